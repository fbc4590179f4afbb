"""Issue 17 end to end: the page for screen readers, the keyboard and the eye, in real Chromium.

- axe-core (web/node_modules, never a CDN) finds no WCAG 2.1 A/AA violation in any state of a
  call, in both colour schemes, nor on a narrow screen;
- a recorder of the page's live regions hears each step of a call, and of a restart, once and
  politely, an incoming call urgently whatever has focus, and the title follows;
- a whole call is placed, answered, muted and hung up with Tab, Enter and Space, focus where the
  next action is after each step, its ring visible at 3:1.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.e2e.conftest import TalkboxProcess
from tests.e2e.listen import wait_until_heard
from tests.e2e.test_browser_calls_browser import ALICE_HZ, BOB_HZ, dial

OpenPage = Callable[..., Page]
CAROL_HZ = 1000.0
AXE = Path(__file__).parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SCHEMES = ("light", "dark")

# --------------------------------------------------------------------------------------------
# axe


def axe_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is, one line each."""
    assert AXE.exists(), f"{AXE} is missing: run `make web` (npm ci in web/)"
    # Through the DevTools protocol, not a <script>: the page's CSP (script-src 'self') stays as it is.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;undefined")
    results: list[dict[str, Any]] = page.evaluate(
        """tags => axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] })
            .then(r => r.violations.map(v => ({ id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary.replace(/\\s+/g, " ")) })))""",
        WCAG_TAGS,
    )
    return [f"{v['id']} ({v['impact']}): {node}" for v in results for node in v["nodes"]]


def assert_accessible(page: Page, state: str) -> None:
    """No violation in either colour scheme (after the colours' transition has run)."""
    found: list[str] = []
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(250)
        found += [f"[{state}, {scheme}] {line}" for line in axe_violations(page)]
    page.emulate_media(color_scheme="light")
    assert found == [], "\n".join(found)


# --------------------------------------------------------------------------------------------
# What a screen reader hears: a recorder of the page's live regions and of its title

RECORDER = """() => {
  if (window.__heard) return;
  window.__heard = [];
  window.__titles = [document.title];
  const region = node => {
    const element = node.nodeType === 1 ? node : node.parentElement;
    const live = '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"]';
    return element && element.closest(live);
  };
  const politeness = element => {
    const live = element.getAttribute("aria-live");
    if (live) return live;
    return element.getAttribute("role") === "alert" ? "assertive" : "polite";
  };
  // role=status is atomic: what it says is all of it. The others here say each addition.
  const atomic = element => element.getAttribute("aria-atomic") === "true" || element.getAttribute("role") === "status";
  new MutationObserver(mutations => {
    const said = new Map();
    for (const m of mutations) {
      const live = region(m.target);
      if (!live) continue;
      if (atomic(live)) { said.set(live, live.textContent.trim()); continue; }
      for (const node of m.addedNodes) {
        const text = (node.textContent || "").trim();
        if (text) said.set(node, text);
      }
      if (m.type === "characterData") said.set(m.target, m.target.textContent.trim());
    }
    for (const [node, text] of said) {
      if (!text) continue;
      const live = region(node) || node;
      const focus = document.activeElement?.id || "";
      window.__heard.push({ text, politeness: politeness(live), focus, at: Date.now() / 1000 });
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
  new MutationObserver(() => window.__titles.push(document.title))
    .observe(document.querySelector("title"), { subtree: true, childList: true, characterData: true });
}"""


@dataclass
class Heard:
    text: str
    politeness: str
    #: What had focus when it was said.
    focus: str
    #: When it was said (the epoch, in seconds).
    at: float


def listen(page: Page) -> None:
    page.evaluate(RECORDER)


def heard(page: Page) -> list[Heard]:
    return [Heard(**entry) for entry in page.evaluate("window.__heard")]


def said_once(page: Page, words: str, *, politeness: str = "polite", timeout: float = 10.0) -> Heard:
    """Waits until `words` has been announced, then checks it was announced exactly once, so."""
    deadline = time.monotonic() + timeout
    while True:
        found = [h for h in heard(page) if words in h.text]
        if found or time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    assert len(found) == 1, f"{words!r} announced {len(found)} times: {[h.text for h in heard(page)]}"
    assert found[0].politeness == politeness, found[0]
    return found[0]


def in_order(seen: list[str], expected: list[str]) -> bool:
    """Whether `expected` occurs in `seen` in this order (other entries between them allowed)."""
    rest = iter(seen)
    return all(any(item == wanted for item in rest) for wanted in expected)


def focused(page: Page) -> str:
    return page.evaluate("document.activeElement?.id || document.activeElement?.tagName")


def expect_focus(page: Page, element_id: str) -> None:
    expect(page.locator(f"#{element_id}")).to_be_focused(timeout=10_000)


# --------------------------------------------------------------------------------------------
# Holding a page's incoming frames, to look at a moment that would otherwise pass in milliseconds


@dataclass
class FrameGate:
    """Stands between a page and Talkbox's websocket; while closed, the server's frames wait."""

    open: bool = True
    held: list[str | bytes] = field(default_factory=list)
    page_side: WebSocketRoute | None = None

    def attach(self, page: Page) -> None:
        page.route_web_socket(re.compile(r"/ws(\?|$)"), self._route)
        page.reload()
        page.locator('#connection[data-state="open"]').wait_for()

    def _route(self, ws: WebSocketRoute) -> None:
        self.page_side = ws
        server = ws.connect_to_server()
        ws.on_message(server.send)
        server.on_message(self._from_server)

    def _from_server(self, message: str | bytes) -> None:
        if self.open and self.page_side is not None:
            self.page_side.send(message)
        else:
            self.held.append(message)

    def close(self) -> None:
        self.open = False

    def release(self) -> None:
        self.open = True
        assert self.page_side is not None
        for message in self.held:
            self.page_side.send(message)
        self.held.clear()


# --------------------------------------------------------------------------------------------
# Helpers for states


def first_visit(open_page: OpenPage, query: str = "first=visit") -> Page:
    page = open_page("nobody", ALICE_HZ, query=query, connected=False)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    return page


def names_on_one_line(page: Page) -> dict[str, int]:
    """Each name in the call list and how many lines its text takes."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("#legs .leg-name")].map(el => {
            const range = document.createRange();
            range.selectNodeContents(el);
            const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
            return [el.textContent, tops.size];
        }))"""
    )


FOCUS_RING = """() => {
  const rgb = s => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(c => c / 255)
      .map(c => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)
      .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const el = document.activeElement;
  const style = getComputedStyle(el);
  let behind = el.parentElement;
  const clear = element => /rgba\\(.*, 0\\)|transparent/.test(getComputedStyle(element).backgroundColor);
  while (behind && clear(behind)) behind = behind.parentElement;
  const background = getComputedStyle(behind || document.documentElement).backgroundColor;
  return { width: parseFloat(style.outlineWidth), style: style.outlineStyle,
           contrast: contrast(rgb(style.outlineColor), rgb(background)) };
}"""


def assert_focus_ring(page: Page) -> None:
    """The focused control has a ring of at least 2 px, at 3:1 against what is behind it, in both schemes."""
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(250)
        ring = page.evaluate(FOCUS_RING)
        assert ring["style"] != "none" and ring["width"] >= 2, (scheme, focused(page), ring)
        assert ring["contrast"] >= 3, (scheme, focused(page), ring)
    page.emulate_media(color_scheme="light")


def tab_to(page: Page, element_id: str, *, backwards: bool = False, limit: int = 12) -> None:
    """Presses Tab (or Shift+Tab) until `element_id` has focus; fails if it never gets it."""
    for _ in range(limit):
        if focused(page) == element_id:
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    assert focused(page) == element_id, f"Tab never reached #{element_id} (at {focused(page)})"


@pytest.fixture
def three(open_page: OpenPage) -> Iterator[tuple[Page, Page, Page]]:
    yield open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ), open_page("carol", CAROL_HZ)


# --------------------------------------------------------------------------------------------
# The tests


def test_the_first_visit_explains_itself_and_checks_the_name_in_words(open_page: OpenPage) -> None:
    page = first_visit(open_page)
    expect(page.locator("#sign-in")).to_contain_text("others will type to call you")
    expect(page.locator("#sign-in")).to_contain_text("No password")
    assert_accessible(page, "first visit")

    name = page.get_by_role("textbox", name="Your name")
    name.fill("bob smith")
    name.press("Enter")
    problem = page.locator("#sign-in-problem")
    expect(problem).to_have_text(re.compile("cannot contain spaces"))
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_be_focused()
    assert "Please match" not in page.locator("body").inner_text()
    assert_accessible(page, "a name that cannot be used")

    # A bad name in the URL: the form, the name in it, and people's words, not the server's.
    page = first_visit(open_page, "client_name=b%3Cb%3E")
    expect(page.get_by_role("textbox", name="Your name")).to_have_value("b<b>")
    expect(page.locator("#sign-in-problem")).to_contain_text("cannot contain “<” and “>”")
    assert "client_name" not in page.locator("body").inner_text()
    page.get_by_role("textbox", name="Your name").fill("carol")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#connection")).to_contain_text("Connected as carol", timeout=10_000)
    # Only names can be dialled on the built-in engine: no telephone number is suggested.
    expect(page.get_by_role("textbox", name="Call to")).to_have_attribute("placeholder", "bob")

    # The checker itself sees a violation when there is one (a button with no name).
    page.evaluate("document.querySelector('main').append(document.createElement('button'))")
    assert any(line.startswith("button-name") for line in axe_violations(page))


def test_every_state_of_a_call_passes_axe_in_both_colour_schemes(
    three: tuple[Page, Page, Page], talkbox: TalkboxProcess
) -> None:
    alice, bob, carol = three
    assert_accessible(alice, "idle")

    alice.get_by_text("Devices", exact=True).click()
    expect(
        alice.get_by_role("combobox", name="Microphone", exact=True).locator("option", has_text="Fake")
    ).not_to_have_count(0, timeout=10_000)
    assert_accessible(alice, "devices")
    alice.get_by_text("Devices", exact=True).click()

    dial(alice, "dave")
    expect(alice.get_by_role("status")).to_contain_text("dave is unavailable", timeout=10_000)
    assert_accessible(alice, "failed")

    gate = FrameGate()
    gate.attach(alice)
    gate.close()
    dial(alice, "bob")
    expect(alice.locator("#placing")).to_have_text("Calling bob…")
    assert_accessible(alice, "dialling")
    gate.release()

    expect(alice).to_have_title("Ringing bob… — Talkbox", timeout=10_000)
    assert_accessible(alice, "ringing out")
    expect(bob.get_by_text("alice is calling")).to_be_visible()
    assert_accessible(bob, "ringing in")

    bob.get_by_role("button", name="Accept").click()
    expect(alice.locator("#call-title")).to_have_text("In call with bob", timeout=10_000)
    expect(bob.locator("#media-state")).to_have_text("Audio connected", timeout=10_000)
    expect(alice.locator("#quality")).to_contain_text("Call quality: MOS", timeout=10_000)
    assert_accessible(alice, "in a call")
    assert_accessible(bob, "in a call, as the one called")

    alice.get_by_role("textbox", name="Add to the call").fill("carol")
    alice.get_by_role("button", name="Add", exact=True).click()
    carol.get_by_role("button", name="Accept").click()
    expect(alice.locator("#call-title")).to_have_text("In call with bob and carol", timeout=10_000)
    expect(carol.locator("#media-state")).to_have_text("Audio connected", timeout=10_000)
    assert_accessible(alice, "a conference, as chair")
    assert_accessible(carol, "a conference, as guest")

    alice.get_by_role("button", name="Mute carol").click()
    bob.get_by_role("button", name="Mute", exact=True).click()
    expect(bob.get_by_role("button", name="Unmute", exact=True)).to_be_visible(timeout=10_000)
    expect(alice.locator("#legs li", has_text="carol").locator(".leg-muted")).to_be_visible()
    assert_accessible(alice, "a conference with one muted")
    assert_accessible(bob, "muted")

    alice.set_viewport_size({"width": 320, "height": 640})
    expect(alice.locator("#legs li")).to_have_count(3)
    assert names_on_one_line(alice) == {"alice (you)": 1, "bob": 1, "carol": 1}
    assert_accessible(alice, "a conference at 320 px")
    alice.set_viewport_size({"width": 1280, "height": 720})

    talkbox.stop()
    expect(alice.locator("#call-title")).to_have_text("Reconnecting the call with bob and carol…", timeout=10_000)
    expect(alice.locator("#call-note")).to_contain_text("Hang up leaves it on this page")
    assert_accessible(alice, "disconnected")
    talkbox.start()
    expect(alice.locator("#call-title")).to_have_text("In call with bob and carol", timeout=20_000)

    alice.get_by_role("button", name="Hang up").click()
    expect(alice.get_by_role("button", name="Rejoin")).to_be_visible(timeout=10_000)
    assert_accessible(alice, "left a call that goes on")

    bob.get_by_role("button", name="Hang up").click()
    expect(carol.get_by_role("status")).to_contain_text(re.compile("ended|hung up", re.I), timeout=10_000)
    assert_accessible(carol, "after the call ended")

    # The directory, with someone not to be disturbed, and the history with its calls (issue 14).
    expect(carol.get_by_role("list", name="People").get_by_role("listitem")).to_have_count(2)
    bob.get_by_role("checkbox", name="Do not disturb").check()
    expect(carol.get_by_role("list", name="People")).to_contain_text("do not disturb")
    assert_accessible(carol, "directory")
    carol.set_viewport_size({"width": 320, "height": 640})
    assert_accessible(carol, "directory at 320 px")
    carol.set_viewport_size({"width": 1280, "height": 720})
    carol.get_by_role("searchbox", name="Search people").fill("nobody")
    expect(carol.get_by_text("Nobody matches")).to_be_visible()
    assert_accessible(carol, "directory, nobody found")
    alice.locator("#history summary").click()
    expect(alice.get_by_role("list", name="Calls").get_by_role("listitem")).to_have_count(2)
    assert_accessible(alice, "history")


def test_each_step_of_a_call_and_of_a_restart_is_announced_once(open_page: OpenPage, talkbox: TalkboxProcess) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    listen(alice)
    listen(bob)
    # Bob is typing when the call comes: the call is heard, and his typing is left alone.
    bob.get_by_role("textbox", name="Call to").press_sequentially("car")

    dial(alice, "bob")
    for step in ("Calling bob…", "Ringing bob…"):
        said_once(alice, step)
    expect(alice).to_have_title("Ringing bob… — Talkbox")
    ring = said_once(bob, "Call from alice", politeness="assertive")
    assert ring.focus == "dial", "the incoming call was announced while the dial box had focus"
    expect_focus(bob, "dial")
    expect(bob.get_by_role("textbox", name="Call to")).to_have_value("car")
    expect(bob).to_have_title("alice is calling — Talkbox")

    bob.get_by_role("button", name="Accept").click()
    expect_focus(bob, "hang-up")
    for page, other in ((alice, "bob"), (bob, "alice")):
        said_once(page, f"In call with {other}")
        said_once(page, "Audio connected")
        expect(page).to_have_title(f"In call with {other} — Talkbox")

    stopped = time.time()
    talkbox.stop()
    restarting = said_once(alice, "Talkbox is restarting")
    assert restarting.at - stopped < 3, "the restart was not announced within 3 s of SIGTERM"
    said_once(alice, "Reconnecting the call with bob…")
    expect(alice).to_have_title("Reconnecting the call with bob… — Talkbox")
    talkbox.start()
    said_once(alice, "Connected as alice", timeout=20)
    deadline = time.monotonic() + 20
    while sum("Audio connected" in h.text for h in heard(alice)) < 2 and time.monotonic() < deadline:
        alice.wait_for_timeout(200)
    assert sum("Audio connected" in h.text for h in heard(alice)) == 2, heard(alice)
    expect(alice).to_have_title("In call with bob — Talkbox")

    alice.get_by_role("button", name="Hang up").click()
    said_once(alice, "You hung up")
    said_once(bob, "alice hung up")
    expect_focus(alice, "dial")
    expect_focus(bob, "dial")
    expect(bob).to_have_title("alice hung up — Talkbox")
    # The title followed each step.
    titles = [title.removesuffix(" — Talkbox") for title in alice.evaluate("window.__titles")]
    steps = ["Calling bob…", "Ringing bob…", "In call with bob", "Reconnecting the call with bob…", "In call with bob"]
    assert in_order(titles, [*steps, "You hung up"]), titles
    # Every announcement but the ring waited its turn.
    assert [h.text for h in heard(alice) if h.politeness != "polite"] == []
    assert [h.text for h in heard(bob) if h.politeness != "polite"] == ["Call from alice: Accept or Reject"]


@pytest.mark.talkbox_env({"TALKBOX_VOICEMAIL": "false"})
def test_a_whole_call_with_the_keyboard_alone(open_page: OpenPage) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)

    tab_to(alice, "dial")
    assert_focus_ring(alice)
    alice.keyboard.type("bob")
    alice.keyboard.press("Enter")

    expect_focus(bob, "accept")
    assert_focus_ring(bob)
    bob.keyboard.press("Space")
    expect_focus(bob, "hang-up")
    wait_until_heard(bob, ALICE_HZ)
    assert_focus_ring(bob)

    tab_to(bob, "mute", backwards=True)
    bob.keyboard.press("Space")
    expect(bob.get_by_role("button", name="Unmute", exact=True)).to_be_focused(timeout=10_000)
    assert_focus_ring(bob)
    bob.keyboard.press("Space")
    expect(bob.get_by_role("button", name="Mute", exact=True)).to_be_focused(timeout=10_000)

    # Alice's focus stayed in the dial box, now empty and saying what it does; from there Tab reaches Hang up.
    expect_focus(alice, "dial")
    expect(alice.get_by_role("textbox", name="Add to the call")).to_have_value("")
    expect(alice.get_by_role("textbox", name="Add to the call")).to_have_accessible_description(
        "Whoever you add joins this call, and everyone hears everyone."
    )
    tab_to(alice, "hang-up")
    assert_focus_ring(alice)
    alice.keyboard.press("Enter")
    expect_focus(alice, "dial")
    expect_focus(bob, "dial")
    expect(bob.get_by_role("status")).to_contain_text("alice hung up")

    # Reject with the keyboard: focus back to the dial box.
    alice.keyboard.type("bob")
    alice.keyboard.press("Enter")
    expect_focus(bob, "accept")
    bob.keyboard.press("Tab")
    expect_focus(bob, "reject")
    bob.keyboard.press("Enter")
    expect_focus(bob, "dial")
    expect(alice.get_by_role("status")).to_contain_text("bob declined", timeout=10_000)


@pytest.mark.talkbox_env({"TALKBOX_RESUME_GRACE": "120"})
def test_while_talkbox_is_away_the_controls_stay_reachable_and_hang_up_leaves(
    open_page: OpenPage, talkbox: TalkboxProcess
) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    dial(alice, "bob")
    bob.get_by_role("button", name="Accept").click()
    expect(alice.locator("#media-state")).to_have_text("Audio connected", timeout=10_000)

    talkbox.kill()
    expect(alice.locator("#call-title")).to_have_text("Reconnecting the call with bob…", timeout=10_000)
    mute = alice.get_by_role("button", name="Mute", exact=True)
    expect(mute).to_have_attribute("aria-disabled", "true")
    mute.focus()
    expect(mute).to_be_focused()
    mute.press("Enter")
    expect(alice.get_by_role("status")).to_contain_text("cannot be reached")

    alice.get_by_role("button", name="Hang up").click()
    expect(alice.get_by_role("status")).to_contain_text("You left the call")
    expect(alice.locator("#call-panel")).to_be_hidden()
    expect_focus(alice, "dial")

    talkbox.start()
    # Once back, Talkbox is told (long before the resume grace would end her leg): bob's side ends
    # too, and alice's page does not show the call again.
    expect(bob.locator("#call-panel")).to_be_hidden(timeout=30_000)
    expect(bob.get_by_role("status")).to_contain_text(re.compile("alice hung up|ended"))
    expect(alice.locator("#call-panel")).to_be_hidden()


@pytest.mark.talkbox_env({"TALKBOX_AUTH": "token", "TALKBOX_SECRET": "e2e-secret-0123456789abcdef0123456789"})
def test_a_server_that_signs_in_by_token_says_so_and_offers_no_name_form(open_page: OpenPage) -> None:
    page = open_page("bob", BOB_HZ, query="client_name=bob", connected=False)
    expect(page.get_by_role("status")).to_contain_text("a link that carries a token; ask for a new link")
    expect(page.locator("#sign-in")).to_be_hidden()
    expect(page).to_have_title("Not signed in — Talkbox")
    assert_accessible(page, "refused, token mode")

"""One wire vocabulary: the page's types and validator are generated from the server's models, and agree with them.

The server's pydantic models (talkbox/ui/protocol.py) are the source; `make protocol` writes their JSON
Schema and the page's code made from it (web/src/generated/). These tests fail when that code is stale,
when a frame the server sends is one the page would drop, and when docs/protocol.md lists codes the
server does not send (or leaves out one it does).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from talkbox.events.models import LegEndReason, RefusalCode
from talkbox.ui.protocol import PAGE_MESSAGE_TYPES, CloseCode, ErrorCode, PageMessage, ServerMessage
from talkbox.ui.schema import wire_schema
from tests.component.test_fuzz import SERVER_TYPES
from tests.support.page_parser import WEB, page_reads
from tests.support.peer import Peer, connect
from tests.support.server import running_server

ROOT = WEB.parent
GENERATED = WEB / "src" / "generated"
REGENERATE = "run `make protocol` and commit web/src/generated/"
ALICE_HZ, BOB_HZ = 440.0, 880.0


def members(union: Any) -> tuple[type[BaseModel], ...]:
    """The models of a discriminated union (Annotated[A | B, Field(discriminator=...)])."""
    return get_args(get_args(union)[0])


def message_type(model: type[BaseModel]) -> str:
    return get_args(model.model_fields["type"].annotation)[0]


# --- the generated files are those of the models -------------------------------------------------


def test_the_committed_schema_is_the_servers() -> None:
    committed = (GENERATED / "protocol.schema.json").read_text()
    assert committed == json.dumps(wire_schema(), indent=2) + "\n", f"protocol.schema.json is stale: {REGENERATE}"


def test_the_pages_generated_code_is_that_of_the_schema(tmp_path: Path) -> None:
    made = subprocess.run(
        ["node", str(WEB / "scripts" / "protocol.mjs"), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert made.returncode == 0, made.stderr
    for name in ("wire.ts", "validate.js", "validate.d.ts"):
        assert (tmp_path / name).read_text() == (GENERATED / name).read_text(), f"{name} is stale: {REGENERATE}"


def test_every_message_both_ways_has_a_schema() -> None:
    definitions = wire_schema()["$defs"]
    for union, name in ((ServerMessage, "ServerMessage"), (PageMessage, "PageMessage")):
        listed = {branch["$ref"].removeprefix("#/$defs/") for branch in definitions[name]["oneOf"]}
        assert listed == {model.__name__ for model in members(union)}
        assert set(definitions[name]["discriminator"]["mapping"]) == {message_type(m) for m in members(union)}
    server_types = set(definitions["ServerMessage"]["discriminator"]["mapping"])
    assert server_types >= SERVER_TYPES, "the fuzz test expects a server message the schema does not have"


# --- frames the server sends are frames the page reads ---------------------------------------------


def _candidates(annotation: Any) -> list[Any]:
    """JSON values of a type, the simplest first (constraints are checked by the caller)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _candidates(args[0])
    if origin is Literal:
        return [args[0]]
    if origin in (Union, types.UnionType):
        return [value for arm in args for value in _candidates(arm)]
    if origin in (list, tuple):
        return [[value] for value in _candidates(args[0])]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [example(annotation).model_dump(mode="json")]
    return {str: ["l-1", "1"], bool: [True], int: [1], float: [1.5], type(None): [None]}[annotation]


def _accepts(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def example(model: type[BaseModel]) -> BaseModel:
    """An instance of `model` with a value in every field: what a new message looks like without writing one."""
    values = {}
    for name, field in model.model_fields.items():
        annotated = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        adapter: TypeAdapter[Any] = TypeAdapter(annotated)
        values[name] = next(value for value in _candidates(field.annotation) if _accepts(adapter, value))
    return model(**values)


def test_one_of_each_server_message_built_from_its_model_is_read_by_the_page_as_it_is() -> None:
    frames = [json.loads(example(model).model_dump_json()) for model in members(ServerMessage)]
    assert page_reads(frames) == frames


def test_the_pages_validator_refuses_what_the_models_refuse() -> None:
    """The same checks on both sides: a frame the server could not build is one the page does not take."""
    offer = json.loads(example(next(m for m in members(ServerMessage) if message_type(m) == "offer")).model_dump_json())
    broken = [{**offer, "auto_answer": "yes"}, {k: v for k, v in offer.items() if k != "sdp"}, {**offer, "type": "x"}]
    broken.append({"type": "digit", "conference_id": "c-1", "leg_id": "l-1", "digit": "X"})
    broken.append({"type": "missed", "count": -1})
    assert page_reads(broken) == [None] * len(broken)


async def test_every_frame_of_a_real_call_is_read_by_the_page_as_the_server_sent_it() -> None:
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice, Peer(url, "bob", BOB_HZ) as bob:
        await alice.send({"type": "directory"})
        await alice.call("alice")  # refused: self_call
        await connect(alice, bob)
        conference_id = alice.active_conference()["id"]
        bob_leg = next(leg["id"] for leg in alice.active_conference()["legs"] if leg["destination"] == "bob")
        await alice.mute("bob")
        await alice.send({"type": "hold", "conference_id": conference_id, "leg_id": bob_leg, "held": True})
        await alice.wait_for(lambda: alice.my_leg(alice.active_conference()) and _held(alice, bob_leg))
        await alice.send({"type": "leg_stats", "conference_id": conference_id})
        await bob.send({"type": "leg_stats", "conference_id": conference_id})  # refused: not_chair
        await alice.send({"type": "dance"})  # error: unknown_type
        await alice.hang_up()
        await alice.wait_for(lambda: alice.last_conference()["status"] == "ended")
        await alice.send({"type": "history"})
        await alice.wait_for(lambda: {"history", "leg_stats", "error", "presence", "missed"} <= _types(alice))
        await bob.wait_for(lambda: "refused" in _types(bob))
        sent = alice.messages + bob.messages
    assert {"welcome", "synced", "conference", "offer", "refused", "error"} <= {frame["type"] for frame in sent}
    assert page_reads(sent) == sent


def _types(peer: Peer) -> set[str]:
    return {message["type"] for message in peer.messages}


def _held(peer: Peer, leg_id: str) -> bool:
    return any(leg["id"] == leg_id and leg["held"] for leg in peer.active_conference()["legs"])


# --- docs/protocol.md names exactly the codes the server sends ---------------------------------------

PROTOCOL_DOC = ROOT / "docs" / "protocol.md"
VOCABULARY_MODULES = {"RefusalCode", "ErrorCode", "LegEndReason"}


def _row(doc: str, message: str) -> str:
    """The meaning column of a message's row in the "Server → page" table."""
    server_to_page = doc.split("## Server → page", 1)[1]
    row = next(line for line in server_to_page.splitlines() if line.startswith(f"| `{message}` |"))
    return row.split(" | ", 2)[2]


def _codes_in(text: str) -> set[str]:
    """The snake_case words in backticks, less message types and settings the text names beside them."""
    words = set(re.findall(r"`([a-z][a-z_]*)`", text))
    return words - PAGE_MESSAGE_TYPES - {"refused", "error"}


def _sent_strings() -> set[str]:
    """Every string constant in the server's source, except in the lists of the vocabularies themselves."""
    found: set[str] = set()
    for path in (ROOT / "src" / "talkbox").rglob("*.py"):
        tree = ast.parse(path.read_text())
        skipped = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and any(isinstance(target, ast.Name) and target.id in VOCABULARY_MODULES for target in node.targets)
        }
        found |= _constants(tree, skipped)
    return found


def _constants(tree: ast.AST, skipped: set[int]) -> set[str]:
    found: set[str] = set()
    pending = [tree]
    while pending:
        node = pending.pop()
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
        pending.extend(ast.iter_child_nodes(node))
    return found


def test_docs_list_exactly_the_refusal_codes_the_server_sends() -> None:
    documented = _codes_in(_row(PROTOCOL_DOC.read_text(), "refused"))
    assert documented == set(get_args(RefusalCode)), "docs/protocol.md's `refused` row and RefusalCode differ"
    assert set(get_args(RefusalCode)) <= _sent_strings(), "RefusalCode lists a code no code of the server sends"


def test_docs_list_exactly_the_error_codes_the_server_sends() -> None:
    documented = _codes_in(_row(PROTOCOL_DOC.read_text(), "error"))
    assert documented == set(get_args(ErrorCode)), "docs/protocol.md's `error` row and ErrorCode differ"
    assert set(get_args(ErrorCode)) <= _sent_strings(), "ErrorCode lists a code no code of the server sends"


def test_docs_list_exactly_the_leg_end_reasons() -> None:
    table = PROTOCOL_DOC.read_text().split("A leg's `end_reason` says why it ended:", 1)[1].split("\n\n", 2)[1]
    documented = set(re.findall(r"^\| [^|]+ \| `([a-z-]+)` \|", table, flags=re.MULTILINE))
    assert documented == set(get_args(LegEndReason)), "docs/protocol.md's end reasons and LegEndReason differ"
    assert set(get_args(LegEndReason)) <= _sent_strings(), "LegEndReason lists a reason no code of the server sets"


def test_docs_list_exactly_the_close_codes() -> None:
    table = PROTOCOL_DOC.read_text().split("### Close codes", 1)[1].split("\n\n", 3)[2]
    documented = {int(code) for code in re.findall(r"^\| (\d{4}) \|", table, flags=re.MULTILINE)}
    assert documented == {int(code) for code in CloseCode}, "docs/protocol.md's close codes and CloseCode differ"

// The embeddable client's entry point: what `dist/talkbox.js` exports.
//
//   import { Talkbox } from "./talkbox.js";
//   const talkbox = await Talkbox.connect({ url: "https://talkbox.example.org", token });
//   talkbox.on("incoming", (call) => talkbox.accept(call.id));
//   const call = await talkbox.call("bob");

import type { ConnectOptions } from "./client";
import { TalkboxClient } from "./client";

export type { Call, CallState, Participant } from "./calls";
export type { ClientEvents, ConnectOptions, ConnectionState, DigitEvent } from "./client";
export { TalkboxClient, TalkboxError } from "./client";

export const Talkbox = {
  /** Connect as the user of `token` (or `name`, open mode); resolves once Talkbox has accepted them. */
  connect(options: ConnectOptions): Promise<TalkboxClient> {
    return TalkboxClient.connect(options);
  },
};

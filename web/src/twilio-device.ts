// The one module that imports Twilio's Voice SDK (bundled from npm). main.ts
// loads it only when the server's `welcome` says "twilio".

import { Call, Device } from "@twilio/voice-sdk";
import type { TwilioDeviceLike, TwilioDeviceOptions } from "./twilio-media";

const CODECS: Record<TwilioDeviceOptions["codecPreferences"][number], Call.Codec> = {
  opus: Call.Codec.Opus,
  pcmu: Call.Codec.PCMU,
};

export function createTwilioDevice(token: string, options: TwilioDeviceOptions): TwilioDeviceLike {
  return new Device(token, {
    codecPreferences: options.codecPreferences.map((codec) => CODECS[codec]),
    closeProtection: options.closeProtection,
    allowIncomingWhileBusy: options.allowIncomingWhileBusy,
    tokenRefreshMs: options.tokenRefreshMs,
  });
}

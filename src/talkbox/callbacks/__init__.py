"""Provider webhooks (Twilio's status callbacks and TwiML) land here; the built-in
engine reports through the bus directly, so there is nothing to receive yet."""

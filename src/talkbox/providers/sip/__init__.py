"""A SIP user agent: a trunk, registration, INVITE in and out; the media plane carries the RTP."""

"""The media plane: packets between the network and the mixer."""

"""The composition root: reads settings and wires every component together."""

"""Front ends: each turns a model description into a :class:`mapper.graph.OpGraph`."""

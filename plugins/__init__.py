"""Your own nodes: any Node subclass in a module here is usable as `plugins.MODULE:Class`."""

"""Scenes: the registry of standard scenes, cached downloads, readers and synthetic scenes."""

"""Small helpers every layer may use: atomic file writes and JSON (io), span geometry (spans), the command-line
error convention (cli). They import nothing else from video_lights."""

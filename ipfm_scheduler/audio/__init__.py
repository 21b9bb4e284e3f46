"""Programme audio: probing files (ffprobe via pydub), and later importing and cataloguing them."""

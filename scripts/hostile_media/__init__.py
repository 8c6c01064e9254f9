"""Helpers for scripts/hostile-inputs: small editors for Matroska (ebml) and MP4 (mp4) files that
ffmpeg wrote, the ffmpeg runner (tools), a writer of huge JPEG pictures (jpeg), and the generators
of the lying files (lying_sizes, lying_times)."""

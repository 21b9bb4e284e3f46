"""Programme audio: probing files, import with loudness normalisation (EBU R128), the catalogue.

ffmpeg runs in :mod:`ipfm_scheduler.audio.ffmpeg` (ffprobe, and the loudness passes), and
through pydub in :mod:`ipfm_scheduler.audio.decode` (the import's decode check) and
:mod:`ipfm_scheduler.audio.probe` (a programme's length); everything else here speaks in values.

Import each name from the module that defines it (``ipfm_scheduler.audio.catalogue``,
``.importer``, ``.files``): this package imports none of them, so they import one another
without a cycle.
"""

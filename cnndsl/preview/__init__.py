"""``cnndsl preview``: a local web page that redraws a ``.cnn`` file's diagram, summary table
and diagnostics on every save (:mod:`.server`, :mod:`.page`); :mod:`.watch` finds the files
to watch (the file and its imports) and waits for saves (also for ``render --watch``)."""

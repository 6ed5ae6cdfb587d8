"""The language server of ``.cnn`` files (``cnndsl lsp``): :mod:`.analysis` holds what it
knows about a document, :mod:`.server` the protocol (pygls)."""

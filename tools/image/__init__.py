"""layerviz's own image: ``build.py`` makes its base and builds it (``python3 dev.py image``)."""

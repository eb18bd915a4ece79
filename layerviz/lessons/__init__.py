"""The lesson images: one image (or a pair) per idea a class on image layers meets.

``images.py`` defines them offline (``manage.py lessons``: real archives, real digests, the
same bytes on every run); ``build.py`` builds the same lessons from the Dockerfiles in
``dockerfiles/`` with a real engine (``manage.py lessons --build``); ``files.py`` is the file
sets both are made of, as Debian, pip and npm would lay them out.
"""

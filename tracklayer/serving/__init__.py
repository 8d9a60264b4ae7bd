"""The production web server (``make serve``): gunicorn, configured by ``gunicorn.py`` here.

``python -m tracklayer.serving`` checks the environment, collects the static files into
``STATIC_ROOT`` and replaces itself with gunicorn (docs: README, "Running in production").
"""

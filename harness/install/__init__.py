"""Installers for what a database needs and Debian does not package (Cassandra's jars).

Standard library only: harness.quickstart calls this before the Python dependencies exist.
Each installer fills a cache folder outside the repository and reuses it when present."""

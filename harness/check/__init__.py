"""``connlab check APP_DIR``: read a real app's config files, predict its connections, sweep the autoscale range."""

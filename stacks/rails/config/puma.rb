# frozen_string_literal: true

# Puma config for one dyno (bin/web): CONNLAB_WORKERS processes x
# CONNLAB_THREADS threads on 127.0.0.1:CONNLAB_PORT (CONNLAB_BIND: another address). The app is preloaded in
# the master, which never opens a Postgres or Redis connection; each worker
# connects lazily after fork (unless CONNLAB_FORK_SAFETY=unsafe, below).
require_relative "../lib/connlab_boot"

threads_count = ConnlabBoot.int!("CONNLAB_THREADS")

environment ENV.fetch("RAILS_ENV", "production")
workers ConnlabBoot.int!("CONNLAB_WORKERS")
threads threads_count, threads_count
# 127.0.0.1, never 0.0.0.0 on a host; CONNLAB_BIND (optional) names another address: a compose file
# (`connlab compose`) sets 0.0.0.0 inside the container, whose port the host publishes on 127.0.0.1 only.
bind_host = ENV["CONNLAB_BIND"].to_s.strip
bind "tcp://#{bind_host.empty? ? '127.0.0.1' : bind_host}:#{ConnlabBoot.int!('CONNLAB_PORT')}"
rackup File.expand_path("../config.ru", __dir__)
preload_app!
tag ENV["CONNLAB_GROUP"].to_s

# Stop fast on SIGTERM: a worker gives in-flight requests 1 s, then kills its
# threads; the master waits 2 s for its workers, then SIGKILLs them.
force_shutdown_after 1
worker_shutdown_timeout 2
worker_boot_timeout 30
worker_timeout 30

# CONNLAB_FORK_SAFETY=unsafe (config.ru connects at boot in the master): no
# hooks at all, the workers keep what they inherit.
if ENV.fetch("CONNLAB_FORK_SAFETY", "safe") == "safe"
  before_fork do
    # Defensive: the master has opened nothing, but never hand a socket to a child.
    ActiveRecord::Base.connection_handler.clear_all_connections! if defined?(ActiveRecord::Base)
  end

  on_worker_boot do
    # A fresh pool per worker (lazy: connects on first checkout).
    ActiveRecord::Base.establish_connection
  end
end

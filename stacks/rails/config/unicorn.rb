# frozen_string_literal: true

# Unicorn config for one dyno (bin/web with CONNLAB_SERVER=unicorn): a master
# and CONNLAB_WORKERS worker processes of one thread each (Unicorn has no
# threads: CONNLAB_THREADS must be 1), on 127.0.0.1:CONNLAB_PORT
# (CONNLAB_BIND: another address). The app is preloaded in the master
# (preload_app true: config.ru runs once there, the workers share its memory
# copy-on-write), so what the master opens before it forks is inherited by
# every worker:
#
# - safe (default): the classic Unicorn pair of hooks. before_fork disconnects
#   ActiveRecord in the master (clear_all_connections!, which disconnects
#   every pool; NOT `ActiveRecord::Base.connection.disconnect!`, which would
#   first open a connection if none exists), after_fork gives each worker a
#   pool of its own (establish_connection; lazy, it connects on the first
#   checkout). One thread per worker: at most one connection per worker,
#   whatever the pool size.
# - unsafe: config.ru connects in the master (an ActiveRecord connection and
#   the raw reporting PG::Connection of ConnlabReporting in app.rb) and there
#   are no hooks: every worker inherits the master's socket and uses it at once.
require_relative "../lib/connlab_boot"

worker_processes ConnlabBoot.int!("CONNLAB_WORKERS")
# 127.0.0.1, never 0.0.0.0 on a host; CONNLAB_BIND (optional) names another address (`connlab compose`
# sets 0.0.0.0 inside a container, whose port the host publishes on 127.0.0.1 only).
bind_host = ENV["CONNLAB_BIND"].to_s.strip
listen "#{bind_host.empty? ? '127.0.0.1' : bind_host}:#{ConnlabBoot.int!('CONNLAB_PORT')}"
preload_app true
# A worker busy longer than this is SIGKILLed by the master (and replaced).
timeout 30

if ENV.fetch("CONNLAB_FORK_SAFETY", "safe") == "safe"
  before_fork do |_server, _worker|
    # Never hand a socket to a child: the master has opened nothing, but disconnect anyway.
    ActiveRecord::Base.connection_handler.clear_all_connections! if defined?(ActiveRecord::Base)
  end

  after_fork do |_server, _worker|
    # A fresh pool per worker, named CONNLAB_GROUP (database.yml's application_name).
    ActiveRecord::Base.establish_connection if defined?(ActiveRecord::Base)
  end
end

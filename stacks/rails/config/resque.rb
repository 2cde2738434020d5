# frozen_string_literal: true

# The forking job worker's fork hooks (bin/worker with CONNLAB_JOBS=resque,
# lib/connlab_resque.rb), exactly as the guidance gives them for Resque (an
# app's config/initializers/resque.rb): before_fork runs in the worker before
# each fork, after_fork in each child. Only with CONNLAB_FORK_SAFETY=safe;
# unsafe: no hooks at all (and the supervisor connects at boot).
#
# On Rails 6.1, `ActiveRecord::Base.connection` in before_fork connects when
# the worker holds no connection (it has none: nothing connects at boot), so
# the hook opens one Postgres connection at the worker's first job and closes
# it at once, before the fork; at later jobs it returns the same, already
# disconnected, adapter and opens nothing (measured: 12 jobs on 3 workers, 15
# connections). Rails 7.2 connects lazily: there the hook opens none (measured
# in the trixie image). `clear_all_connections!` (config/unicorn.rb) opens
# none on either.
if ENV.fetch("CONNLAB_FORK_SAFETY", "safe") == "safe"
  Resque.before_fork do
    defined?(ActiveRecord::Base) and
      ActiveRecord::Base.connection.disconnect!
  end

  Resque.after_fork do
    defined?(ActiveRecord::Base) and
      ActiveRecord::Base.establish_connection
  end
end

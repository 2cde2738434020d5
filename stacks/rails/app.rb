# frozen_string_literal: true

# connlab's sample Rails app, in one file: Rails 6.1 (ActiveRecord +
# ActionController::Metal), Sidekiq 6.4, Redis 4.8, pg, all from Debian's
# system gems (no Gemfile, no Bundler); also runs unchanged on Debian trixie's
# Rails 7.2, Puma 6, Sidekiq 7.3 (redis-client), redis-rb 5.3
# (stacks/images/rails/). Loaded by:
#   config.ru   (bin/web: Puma, or Unicorn with CONNLAB_SERVER=unicorn,
#               preloaded in the master, connections after fork;
#               CONNLAB_FORK_SAFETY=unsafe: see ConnlabReporting)
#   bin/worker  (sidekiq -r ./app.rb; CONNLAB_JOBS=resque: lib/connlab_resque.rb)
#   bin/oneoff  (like `rails runner`)
# See ../CONTRACT.md for the endpoints, environment and error mapping.

require_relative "lib/connlab_boot"

ENV["RAILS_ENV"] ||= "production"
ConnlabBoot.require_env!(%w[CONNLAB_DATABASE_URL CONNLAB_GROUP CONNLAB_POOL CONNLAB_CHECKOUT_TIMEOUT_S])
ConnlabBoot.int!("CONNLAB_POOL")
ConnlabBoot.float!("CONNLAB_CHECKOUT_TIMEOUT_S")

ConnlabBoot.load_gem("rails", "railties")
ConnlabBoot.load_gem("active_record/railtie", "activerecord")
ConnlabBoot.load_gem("action_controller/railtie", "actionpack")
ConnlabBoot.load_gem("pg", "pg")
ConnlabBoot.load_gem("redis", "redis")
ConnlabBoot.load_gem("sidekiq", "sidekiq")
ConnlabBoot.load_gem("sidekiq/rails", "sidekiq") # Rails reloader around each job
# CONNLAB_JOBS=resque (a `kind: forking` worker tier): /enqueue pushes to the Resque-style worker's list instead
require_relative "lib/connlab_resque"

# Sidekiq 6.4 calls redis-rb 4.8 in ways 4.8 deprecates (brpop timeout,
# sadd): one warning per fetch otherwise.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

# The two stacks this app runs on: Rails 6.1 + Sidekiq 6.4 + redis-rb 4.8
# (bookworm, local) and Rails 7.2 + Sidekiq 7.3 + redis-client (trixie image).
CONNLAB_RAILS = "#{Rails::VERSION::MAJOR}.#{Rails::VERSION::MINOR}"
CONNLAB_RAILS72 = Rails.gem_version >= Gem::Version.new("7.2")

module Connlab
  class Application < Rails::Application
    config.load_defaults CONNLAB_RAILS
    config.root = __dir__
    config.api_only = true
    config.eager_load = false          # boot time: load nothing up front
    config.cache_classes = true
    config.consider_all_requests_local = false
    config.secret_key_base = "connlab-not-a-secret-#{'0' * 64}"
    # Rails.cache on Redis (the cache store every Rails app on Heroku-like
    # platforms uses), with a connection pool per process: pool_size = the
    # threads that may read the cache at once (Puma threads on the web,
    # Sidekiq's concurrency in a worker), so a thread never waits for the
    # pool and the process opens at most one cache connection per thread, and
    # only as many as ever read at the same instant (connection_pool creates
    # them lazily and keeps them). Without pool_size, Rails 6.1 shares ONE
    # connection per process between all its threads. Connections are named
    # CONNLAB_GROUP (id: = CLIENT SETNAME); the pool is built empty at boot
    # (after initialize!, below), its connections open on first use, after
    # fork, never in the Puma master.
    config.cache_store = if ENV["CONNLAB_REDIS_URL"].to_s.empty?
                           :null_store
                         else
                           size = Integer(ENV["CONNLAB_THREADS"] || ENV["CONNLAB_CONCURRENCY"] || "1", 10)
                           timeout = Float(ENV.fetch("CONNLAB_CHECKOUT_TIMEOUT_S"))
                           # 7.2 takes pool: {size:, timeout:} (pool_size/pool_timeout are gone)
                           pool = CONNLAB_RAILS72 ? { pool: { size: size, timeout: timeout } }
                                                  : { pool_size: size, pool_timeout: timeout }
                           [:redis_cache_store, { url: ENV["CONNLAB_REDIS_URL"], id: ENV["CONNLAB_GROUP"], **pool }]
                         end
    config.public_file_server.enabled = false
    config.logger = ActiveSupport::Logger.new($stdout)
    config.log_level = ENV.fetch("CONNLAB_LOG_LEVEL", "warn").to_sym
    # Nothing may touch the database at boot (the Puma master must hold no
    # connection): no schema cache dump, no pending-migration check.
    config.active_record.use_schema_cache_dump = false
    config.active_record.migration_error = false
    config.active_record.dump_schema_after_migration = false
    # database.yml (config/database.yml) reads CONNLAB_DATABASE_URL, _POOL,
    # _CHECKOUT_TIMEOUT_S and _GROUP (application_name).
  end
end

# Maps exceptions to the contract's statuses and X-Connlab-Error headers.
# Sits inside ShowExceptions/DebugExceptions so it sees the raw exception.
class ConnlabErrors
  # Errors that mean "could not connect / connection lost" (502), possibly
  # wrapped by ActiveRecord::StatementInvalid (look through #cause).
  LOST = [PG::ConnectionBad, PG::UnableToSend, PG::AdminShutdown,
          PG::CrashShutdown, PG::CannotConnectNow, PG::TooManyConnections].freeze

  def self.status_for(e)
    return 503 if e.is_a?(ActiveRecord::ConnectionTimeoutError)
    return 502 if e.is_a?(ActiveRecord::ConnectionNotEstablished)
    return 504 if e.is_a?(Redis::BaseError) || e.is_a?(ConnectionPool::TimeoutError)
    c = e
    8.times do
      return 502 if LOST.any? { |k| c.is_a?(k) }
      c = c.cause or break
    end
    500
  end

  def self.first_line(msg)
    line = msg.to_s.lines.map(&:strip).reject(&:empty?).first || ""
    line.encode("US-ASCII", invalid: :replace, undef: :replace, replace: "?")
        .gsub(/[^\x20-\x7e]/, "?")[0, 200]
  end

  # Rails 7.1+ turns a PG error whose text names the host into
  # ActiveRecord::DatabaseConnectionError "There is an issue connecting with
  # your hostname: 127.0.0.1." -- also "remaining connection slots are
  # reserved" (measured on 7.2.2). The cause keeps Postgres' words: add them.
  def self.message_for(e)
    msg = first_line(e.message)
    cause = e.cause
    return msg if cause.nil? || msg.include?(first_line(cause.message))

    first_line("#{msg} (#{first_line(cause.message)})")
  end

  def self.response_for(e)
    klass = e.class.name || e.class.inspect
    msg = message_for(e)
    [status_for(e),
     { "Content-Type" => "text/plain", "X-Connlab-Error" => klass, "X-Connlab-Error-Message" => msg },
     ["#{klass}: #{msg}\n"]]
  end

  def initialize(app)
    @app = app
  end

  def call(env)
    @app.call(env)
  rescue Exception => e # rubocop:disable Lint/RescueException
    raise if e.is_a?(SignalException) || e.is_a?(SystemExit) || e.is_a?(NoMemoryError)
    Rails.logger.warn("connlab: #{e.class}: #{e.message.lines.first&.strip}")
    self.class.response_for(e)
  end
end
Connlab::Application.config.middleware.insert_after ActionDispatch::DebugExceptions, ConnlabErrors

# Sidekiq: every Redis connection is named CONNLAB_GROUP (redis-rb 4.8 `id:`,
# and on Sidekiq 7 redis-client's `id:`, do CLIENT SETNAME on connect). Pools are lazy: nothing connects at load time.
if ENV["CONNLAB_REDIS_URL"]
  Sidekiq.configure_client do |config| # web / oneoff: one Redis connection per thread
    config.redis = { url: ENV["CONNLAB_REDIS_URL"], id: ENV["CONNLAB_GROUP"],
                     size: Integer(ENV.fetch("CONNLAB_THREADS", "5"), 10) }
  end
  # worker: Sidekiq 6.4 one pool, default size concurrency + 5; Sidekiq 7.3 an
  # "internal" pool of 10 plus the default capsule's pool of concurrency
  # (both in its boot log).
  Sidekiq.configure_server do |config|
    config.redis = { url: ENV["CONNLAB_REDIS_URL"], id: ENV["CONNLAB_GROUP"] }
    # One line per failed job, which the harness counts (stacks/CONTRACT.md).
    config.error_handlers << proc do |ex, ctx|
      jid = ctx.is_a?(Hash) && ctx[:job].is_a?(Hash) ? ctx[:job]["jid"] : "-"
      $stdout.puts "connlab-job-failed pid=#{Process.pid} job=#{jid} #{ex.class.name}: " \
                   "#{ConnlabErrors.first_line(ex.message)}"
      $stdout.flush
    end
    # Readiness: the first heartbeat has been written to Redis, the processors
    # are fetching.
    config.on(:heartbeat) do
      unless $connlab_ready
        $connlab_ready = true
        $stdout.puts "connlab-ready sidekiq #{Sidekiq::VERSION} pid=#{Process.pid} " \
                     "concurrency=#{connlab_concurrency} group=#{ENV['CONNLAB_GROUP']}"
        $stdout.flush
      end
    end
  end
end

# Sidekiq 7 removed Sidekiq.options.
def connlab_concurrency
  Sidekiq.respond_to?(:default_configuration) ? Sidekiq.default_configuration[:concurrency] : Sidekiq.options[:concurrency]
end

# A model, for /db?work_ms=: its query goes through ActiveRecord's own model
# path, which is what differs between versions: Rails 6.1 leases the thread a
# connection on the first query and keeps it until the request ends (the
# executor's clear_active_connections!); Rails 7.2 runs each model query in
# with_connection (checked out for the query only). No table of ours: the
# model reads pg_available_extensions' columns once, on first use (after fork).
class ConnlabProbe < ActiveRecord::Base
  self.table_name = "pg_available_extensions" # a catalog view of plain types (name, text)

  def self.sleep_query(ms)
    find_by_sql(["SELECT 1 AS n FROM pg_sleep(?)", Float(ms) / 1000.0])
  end
end

# Holds a pooled database connection for `ms` milliseconds.
def connlab_hold(ms)
  ActiveRecord::Base.connection_pool.with_connection do |conn|
    # execute, not select_value: no result type-casting (pg_sleep returns
    # `void`, which ActiveRecord would warn about on every call).
    conn.execute("SELECT pg_sleep(#{Float(ms) / 1000.0})").clear
  end
end

# CONNLAB_FORK_SAFETY=unsafe (web only; bin/web checks the value, config.ru
# calls ConnlabReporting.connect! in the Puma master, config/puma.rb then has
# no before_fork / on_worker_boot): the classic fork-safety mistake that
# ActiveRecord's own protection does not cover.
#
# ActiveRecord 6.1 is fork-safe by itself. activesupport's ForkTracker
# (active_support/fork_tracker.rb) prepends Process.fork / Kernel#fork (Puma
# forks its workers with Kernel#fork), and
# active_record/connection_adapters/pool_config.rb registers
# `ForkTracker.after_fork { PoolConfig.discard_pools! }`: in the child every
# inherited adapter is `discard!`ed (postgresql_adapter.rb:
# `@connection.socket_io.reopen(IO::NULL)`, `@connection = nil`, so the
# child cannot even send Terminate on the parent's socket) and the pool is
# rebuilt lazily. Measured: `ActiveRecord::Base.connection` in the parent,
# then in 3 forked children, gives 3 new backends (pg_backend_pid differs,
# the parent's adapter has @connection nil in the child), with and without
# SSL. So the ActiveRecord connection config.ru makes in the master is
# harmless (it stays open, idle, in the master).
#
# Not covered: a raw PG::Connection opened at boot into a global (a
# "reporting" or "cache" connection, `$pg = PG.connect(...)`). Every Puma
# worker inherits the master's socket (with SSL, the same TLS session state)
# and uses it concurrently; in unsafe mode /db runs its query on it instead of
# the pool. Measured (Postgres 18, and 15 with SSL, on 127.0.0.1; 2-4
# workers x 1-2 threads, 20 concurrent clients of /db?ms=50): the first
# errors within 0.2 s, one per worker, then every request on a broken worker
# fails at once:
# - without SSL: PG::UnableToSend "lost synchronization with server: got
#   message type "x", length 2021161080" (a worker read the middle of a reply
#   meant for another), then PG::UnableToSend "no connection to the server".
#   Only if the reply is large enough to arrive in pieces: with replies under
#   ~8 KB the workers silently swap whole replies (0 errors in 5 s, wrong
#   answers), hence the query's REPORT_BYTES text column (1 MiB: first
#   error within 0.2 s in 24 of 24 runs; 256 KiB: once after 2.4 s; 64 KiB:
#   up to 1.3 s). With one client at a time nothing collides (0 errors).
# - with SSL (any reply size): PG::ConnectionBad "PQconsumeInput() SSL
#   error: decryption failed or bad record mac", "... SSL error: sslv3 alert
#   bad record mac", "... SSL SYSCALL error: EOF detected", "... SSL error:
#   wrong version number", "... server closed the connection unexpectedly"
#   (the server logs "SSL error: decryption failed or bad record mac" and
#   drops the connection), then PG::UnableToSend "no connection to the
#   server".
# A Mutex keeps the threads of one worker from sharing it (only the fork is
# unsafe). Replies are waited for with a deadline (ms + REPLY_SLACK_S, in
# Ruby, so Puma's shutdown can interrupt it): a worker whose whole reply was
# taken by another process answers 502 PG::ConnectionBad "timeout: no reply
# from the server within N s" (raised here) instead of hanging. No reset
# after an error: a global like this is seldom repaired, the worker keeps
# failing until it is restarted.
module ConnlabReporting
  REPLY_SLACK_S = 2.0
  REPORT_BYTES = 1_048_576
  LOCK = Mutex.new

  module_function

  def connected?
    !$connlab_reporting_pg.nil?
  end

  # Called at boot in the Puma master (config.ru), before the fork.
  def connect!
    $connlab_reporting_pg = PG.connect(ENV.fetch("CONNLAB_DATABASE_URL"),
                                       application_name: ENV.fetch("CONNLAB_GROUP"),
                                       connect_timeout: 5)
    # libpq reports some protocol trouble ("message type 0x.. arrived from
    # server while idle") as a notice, on stderr by default: log it instead.
    $connlab_reporting_pg.set_notice_processor do |msg|
      Rails.logger.warn("connlab reporting pid=#{Process.pid}: #{msg.strip}")
    end
    $connlab_reporting_pg.exec("SELECT 1").clear
  end

  def hold(ms)
    s = Float(ms) / 1000.0
    LOCK.synchronize do
      pg = $connlab_reporting_pg
      # A query that timed out earlier: take its late reply if it comes
      # within 0.1 s (else send_query fails: "another command is already in
      # progress").
      if pg.transaction_status == PG::PQTRANS_ACTIVE
        while pg.block(0.1) && (r = pg.get_result)
          r.clear
        end
      end
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + s + REPLY_SLACK_S
      pg.send_query("SELECT pg_sleep(#{s}), repeat('x', #{REPORT_BYTES})")
      loop do
        left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
        unless left.positive? && pg.block(left)
          raise PG::ConnectionBad.new("timeout: no reply from the server within " \
                                      "#{(s + REPLY_SLACK_S).round(3)} s", connection: pg)
        end
        r = pg.get_result or break
        begin
          r.check
        ensure
          r.clear
        end
      end
    end
  end
end

# A cache read that holds its Redis connection `ms` milliseconds: BLPOP with
# a fractional timeout on a list nobody pushes to (a server-side wait, as
# pg_sleep is for Postgres), then the read itself, on the same connection
# (connection_pool's `with` is re-entrant within a thread).
#
# Through the store's own pool (`Rails.cache.redis.with`, as apps do for
# locks and rate limits): RedisCacheStore's own reads swallow every
# Redis::BaseError into a miss (its `failsafe`), so a full Redis would never
# show; the hold lets the error through (Redis::CommandError "ERR max number
# of clients reached" when Redis refuses the connection: a 504 for users, a
# failed job in a worker). redis-rb waits for a blocking command its
# read_timeout (1 s in the store) beyond the command's own timeout, so any
# `ms` is safe; ms = 0 is a plain read (BLPOP 0 would wait forever).
CACHE_KEY = "connlab:cache:greeting"
CACHE_HOLD_KEY = "connlab:cache:never-pushed"

def connlab_cache_read(ms)
  Rails.cache.redis.with do |redis|
    redis.blpop(CACHE_HOLD_KEY, timeout: Float(ms) / 1000.0) if ms.positive?
    Rails.cache.read(CACHE_KEY)
  end
end

class HoldJob
  include Sidekiq::Worker
  sidekiq_options retry: false

  # cache_ms > 0: read the cache first (holding a connection of this Sidekiq
  # process's cache pool that long), then hold a database connection.
  def perform(ms, cache_ms = 0)
    connlab_cache_read(cache_ms) if cache_ms.positive?
    connlab_hold(ms)
  end
end

class ConnlabController < ActionController::Metal
  def health
    reply "ok"
  end

  def db
    ms = Integer(request.query_parameters.fetch("ms", "0"), 10)
    work_ms = Integer(request.query_parameters.fetch("work_ms", "0"), 10)
    if ConnlabReporting.connected?
      ConnlabReporting.hold(ms)
    elsif request.query_parameters.key?("work_ms")
      # A model query, then work_ms of work that touches no database (sleep
      # in Ruby): whether the connection stays checked out during the work
      # is the version's (see ConnlabProbe).
      ConnlabProbe.sleep_query(ms)
      sleep(work_ms / 1000.0) if work_ms.positive?
    else
      connlab_hold(ms)
    end
    reply "ok"
  end

  def enqueue
    ms = Integer(request.query_parameters.fetch("ms", "0"), 10)
    n = Integer(request.query_parameters.fetch("n", "1"), 10)
    cache_ms = Integer(request.query_parameters.fetch("cache_ms", "0"), 10)
    args = cache_ms.positive? ? [ms, cache_ms] : [ms]
    if ENV["CONNLAB_JOBS"] == "resque"
      n.times { ConnlabResque.enqueue(ConnlabResque::HoldJob, *args) }
    else
      n.times { HoldJob.perform_async(*args) }
    end
    reply "ok"
  end

  def cache
    connlab_cache_read(Integer(request.query_parameters.fetch("ms", "0"), 10))
    reply "ok"
  end

  # The versions this process runs, for results.json (touches neither server).
  def versions
    found = { "ruby" => RUBY_VERSION, "rails" => Rails.version, "sidekiq" => Sidekiq::VERSION, "pg" => PG::VERSION }
    # the web server this process runs in (bin/web: Puma or Unicorn)
    found["puma"] = Puma::Const::PUMA_VERSION if defined?(Puma::Const::PUMA_VERSION)
    found["unicorn"] = Unicorn::Const::UNICORN_VERSION if defined?(Unicorn::Const::UNICORN_VERSION)
    found["redis-client"] = RedisClient::VERSION if defined?(RedisClient::VERSION)
    found["redis-rb"] = Redis::VERSION if defined?(Redis::VERSION)
    self.content_type = "application/json"
    self.response_body = JSON.generate(found)
  end

  private

  def reply(text)
    self.content_type = "text/plain"
    self.response_body = text
  end
end

Rails.application.initialize!

# Rails 6.1's RedisCacheStore builds its connection pool on first use, with
# `@redis ||= ConnectionPool.new(...)`, which is not thread-safe: threads that
# meet it together can each build a pool, and every pool opens connections of
# its own, so a process can hold more than pool_size (measured: 24 of 2000
# first uses by 5 threads built more than one pool). Rails 7.2 builds it in the
# constructor. Build it here, before any thread serves: it is empty (it
# connects lazily), so a fork after this hands no socket to a child.
Rails.cache.redis if Rails.cache.respond_to?(:redis)

# Sidekiq 7 builds the client pool web threads enqueue through the same way,
# on first use (`@redis ||= new_redis_pool(...)` in
# Sidekiq::Config#local_redis_pool; measured in the 7.2 image: 42 of 2000
# first uses by 5 threads built more than one pool; the first build takes about
# 0.4 ms). Sidekiq 6.4 builds it in `config.redis =`. Build it here, empty, on
# the client side only: a Sidekiq server sets up its capsules' pools itself.
Sidekiq.redis_pool if ENV["CONNLAB_REDIS_URL"] && !Sidekiq.server?

# CONNLAB_POOL_LOG=1: one stdout line per pool checkout / checkin (pid,
# CLOCK_MONOTONIC), to replay how many connections a process held at once
# (tests/test_rails72_image.py). The callbacks exist on 6.1 and 7.2 alike.
if ENV["CONNLAB_POOL_LOG"] == "1"
  %i[checkout checkin].each do |event|
    ActiveRecord::ConnectionAdapters::AbstractAdapter.set_callback(event, :after) do
      $stdout.write("connlab-pool #{event} pid=#{Process.pid} " \
                    "t=#{Process.clock_gettime(Process::CLOCK_MONOTONIC)}\n")
      $stdout.flush
    end
  end
end

# In a single-file app the routes must be drawn after initialize!.
Rails.application.routes.draw do
  get "/health" => "connlab#health"
  get "/db" => "connlab#db"
  get "/enqueue" => "connlab#enqueue"
  get "/cache" => "connlab#cache"
  get "/versions" => "connlab#versions"
end

# frozen_string_literal: true

# connlab's sample Rails app, in one file: Rails 6.1 (ActiveRecord +
# ActionController::Metal), Sidekiq 6.4, Redis 4.8, pg, all from Debian's
# system gems (no Gemfile, no Bundler). Loaded by:
#   config.ru   (bin/web: Puma, preloaded in the master, connections after fork)
#   bin/worker  (sidekiq -r ./app.rb)
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

# Sidekiq 6.4 calls redis-rb 4.8 in ways 4.8 deprecates (brpop timeout,
# sadd): one warning per fetch otherwise.
Redis.silence_deprecations = true

module Connlab
  class Application < Rails::Application
    config.load_defaults 6.1
    config.root = __dir__
    config.api_only = true
    config.eager_load = false          # boot time: load nothing up front
    config.cache_classes = true
    config.consider_all_requests_local = false
    config.secret_key_base = "connlab-not-a-secret-#{'0' * 64}"
    config.cache_store = :null_store
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

  def self.response_for(e)
    klass = e.class.name || e.class.inspect
    msg = first_line(e.message)
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

# Sidekiq: every Redis connection is named CONNLAB_GROUP (redis-rb `id:` does
# CLIENT SETNAME on connect). Pools are lazy: nothing connects at load time.
if ENV["CONNLAB_REDIS_URL"]
  Sidekiq.configure_client do |config| # web / oneoff: one Redis connection per thread
    config.redis = { url: ENV["CONNLAB_REDIS_URL"], id: ENV["CONNLAB_GROUP"],
                     size: Integer(ENV.fetch("CONNLAB_THREADS", "5"), 10) }
  end
  Sidekiq.configure_server do |config| # worker: default size = concurrency + 5
    config.redis = { url: ENV["CONNLAB_REDIS_URL"], id: ENV["CONNLAB_GROUP"] }
    # Readiness: the first heartbeat has been written to Redis, the processors
    # are fetching.
    config.on(:heartbeat) do
      unless $connlab_ready
        $connlab_ready = true
        $stdout.puts "connlab-ready sidekiq #{Sidekiq::VERSION} pid=#{Process.pid} " \
                     "concurrency=#{Sidekiq.options[:concurrency]} group=#{ENV['CONNLAB_GROUP']}"
        $stdout.flush
      end
    end
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

class HoldJob
  include Sidekiq::Worker
  sidekiq_options retry: false

  def perform(ms)
    connlab_hold(ms)
  end
end

class ConnlabController < ActionController::Metal
  def health
    reply "ok"
  end

  def db
    connlab_hold(Integer(request.query_parameters.fetch("ms", "0"), 10))
    reply "ok"
  end

  def enqueue
    ms = Integer(request.query_parameters.fetch("ms", "0"), 10)
    n = Integer(request.query_parameters.fetch("n", "1"), 10)
    n.times { HoldJob.perform_async(ms) }
    reply "ok"
  end

  private

  def reply(text)
    self.content_type = "text/plain"
    self.response_body = text
  end
end

Rails.application.initialize!

# In a single-file app the routes must be drawn after initialize!.
Rails.application.routes.draw do
  get "/health" => "connlab#health"
  get "/db" => "connlab#db"
  get "/enqueue" => "connlab#enqueue"
end

# frozen_string_literal: true

# A Resque-style forking job worker for the Rails app (CONNLAB_JOBS=resque;
# Resque itself is not packaged in Debian). bin/worker runs it for a plan
# whose worker tier is `kind: forking`; the web's /enqueue then pushes jobs
# onto its Redis list instead of Sidekiq's.
#
#   supervisor (the process bin/worker is; boots the app once, as resque-pool
#   |           with preloading does; Redis none; Postgres none, or when
#   |           CONNLAB_FORK_SAFETY=unsafe one raw connection opened at boot)
#   +- worker x CONNLAB_CONCURRENCY   (one job at a time: BLPOP on the queue)
#        +- child, one per job        (Resque's fork per job: runs the job, exit!)
#
# What each worker does per job, in Resque's order (resque/worker.rb
# perform_with_fork / perform): before_fork hooks in the worker, fork; in the
# child, a Redis connection of its own (Resque's `reconnect` after fork: it
# records a failed job on it, Resque's failure backend), the after_fork hooks,
# the job, then exit! (no at_exit, no finalizers: nothing inherited is
# closed); the worker waits for the child (reaped, always) and counts it
# (Resque's processed! / failed!, on the worker's own connection).
#
# The hooks are the guidance's (config/resque.rb, only with
# CONNLAB_FORK_SAFETY=safe): before_fork `ActiveRecord::Base.connection.disconnect!`
# in the worker, after_fork `ActiveRecord::Base.establish_connection` in the
# child. The child also closes its own connections before exit! (the pool's
# disconnect!, the Redis client's close), so each is gone from the servers
# before the worker forks the next child.
#
# Differences from Resque, none of which changes a connection count: a
# blocking pop (BLPOP, 1 s timeout, then again) instead of Resque's LPOP
# every `interval` (5 s) when idle, so jobs start at once; no worker registry,
# heartbeat thread or stats beyond two counters; a payload that carries an id.
#
# Connections, per worker: Redis 1 (its BLPOP connection, kept) + 1 per
# running child (its own, opened after fork, closed before exit!); Postgres
# 1 per running child (the job's, through a fresh pool); Rails 6.1's
# before_fork hook opens one in the worker at its first job and closes it at
# once, before the fork (`ActiveRecord::Base.connection` connects when
# nothing is leased; at later jobs it returns the same, already disconnected,
# adapter; Rails 7.2 connects lazily and opens none). So at most one per
# worker at any instant: C in all.
#
# Fork safety (CONNLAB_FORK_SAFETY=unsafe): no hooks, and the supervisor opens
# ConnlabReporting's raw PG::Connection at boot (app.rb), which every worker
# and every child inherits; each job, after its own query, reports on it
# (ConnlabReporting.hold(0)). ActiveRecord itself is not the unsafe part:
# Rails 6.1 discards inherited pools in every forked process
# (ActiveSupport::ForkTracker), so without the hooks each child still opens
# a connection of its own; the guidance's hooks only ever touch
# ActiveRecord, and would not save the raw one either. With SSL the first
# child to use the shared session moves its TLS state on, and the next child
# (starting again from the parent's copy) sends records the server cannot
# decrypt: the server drops the session, and every later report fails at once.
#
# Signals: TERM or INT to the supervisor (or to the whole process group, as
# the harness sends): the supervisor passes TERM to its workers and SIGKILLs
# any still alive after SHUTDOWN_S; a worker passes TERM to its running child
# (which dies: the job is lost, as Resque's TERM does with term_child), reaps
# it and exits. A worker whose supervisor is gone exits at its next pop. The
# supervisor reaps every child it gets (it may be PID 1 in a container).
#
# Readiness: each worker writes a byte to a pipe once its Redis connection
# answers; the supervisor prints `connlab-ready` once all have.
require "io/wait"
require "json"
require "securerandom"
require "time"

module ConnlabResque
  QUEUE = "connlab:resque:queue:hold"
  FAILED = "connlab:resque:failed"
  STAT_PROCESSED = "connlab:resque:stat:processed"
  STAT_FAILED = "connlab:resque:stat:failed"
  # BLPOP's timeout: how often an idle worker looks at its supervisor.
  POP_TIMEOUT_S = 1
  # After TERM, how long the supervisor waits for its workers before SIGKILL.
  SHUTDOWN_S = 2.0
  # A worker that died on its own is replaced after this.
  RESPAWN_S = 1.0
  PING_RETRY_S = 0.5
  TICK_S = 0.1

  # A job whose child died of a signal it did not expect (Resque::DirtyExit).
  class DirtyExit < StandardError; end

  # Raised in a worker's main thread by its TERM handler while it waits in BLPOP.
  class Stop < Exception; end # rubocop:disable Lint/InheritException

  @hooks = { before_fork: [], after_fork: [] }
  @client_lock = Mutex.new
  @client_pool = nil

  class << self
    # Resque's hook API: `Resque.before_fork do |job| ... end` (config/resque.rb).
    def before_fork(&block)
      @hooks[:before_fork] << block
    end

    def after_fork(&block)
      @hooks[:after_fork] << block
    end

    def run_hooks(name, job)
      @hooks.fetch(name).each { |hook| hook.call(job) }
    end

    def hooks?
      @hooks.values.any?(&:any?)
    end

    # A Redis client named CONNLAB_GROUP (CLIENT SETNAME at connect); connects on its first command.
    def new_redis
      Redis.new(url: ENV.fetch("CONNLAB_REDIS_URL"), id: ENV.fetch("CONNLAB_GROUP"))
    end

    # The web's side: RPUSH a job (Resque.enqueue) over the process's client pool, one connection per thread
    # enqueueing at that instant (size CONNLAB_THREADS, as Sidekiq's client pool; built lazily, after fork).
    def enqueue(klass, *args)
      payload = JSON.generate("class" => klass.name, "args" => args, "id" => SecureRandom.hex(12))
      client_pool.with { |redis| redis.rpush(QUEUE, payload) }
    end

    def client_pool
      @client_lock.synchronize do
        @client_pool ||= ConnectionPool.new(size: Integer(ENV.fetch("CONNLAB_THREADS", "5"), 10),
                                            timeout: Float(ENV.fetch("CONNLAB_CHECKOUT_TIMEOUT_S", "5"))) do
          new_redis
        end
      end
    end

    # One line on stdout (the worker's log), written at once: children leave with exit!.
    def say(line)
      $stdout.write("#{line}\n")
      $stdout.flush
    end

    def report_failure(job_id, error)
      say("connlab-job-failed pid=#{Process.pid} job=#{job_id} #{error.class.name}: " \
          "#{ConnlabErrors.message_for(error)}")
    end

    # bin/worker's main with CONNLAB_JOBS=resque: boot the app in the supervisor, then supervise.
    def main(concurrency)
      require_relative "../app"
      require_relative "../config/resque"
      Supervisor.new(concurrency).run
    end
  end

  # The job /enqueue pushes: HoldJob's work (app.rb), then, when the parent connected at boot (unsafe), a
  # report on that inherited raw connection.
  class HoldJob
    def self.perform(ms, cache_ms = 0)
      ::HoldJob.new.perform(ms, cache_ms)
      ConnlabReporting.hold(0) if ConnlabReporting.connected?
    end
  end

  # One worker process: pops a job, forks a child for it, waits, again.
  class Worker
    def initialize(supervisor_pid, ready_io)
      @supervisor_pid = supervisor_pid
      @ready_io = ready_io
      @stop = false
      @idle = false
      @child = nil
    end

    def run
      trap_signals
      @redis = ConnlabResque.new_redis
      wait_for_redis
      @ready_io.write("r")
      @ready_io.close
      until @stop
        break if Process.ppid != @supervisor_pid # the supervisor is gone

        @idle = true
        popped = @redis.blpop(QUEUE, timeout: POP_TIMEOUT_S)
        @idle = false
        perform_with_fork(popped[1]) if popped && !@stop
      end
      0
    rescue Stop
      0
    ensure
      reap_child
    end

    private

    def trap_signals
      %w[TERM INT].each do |sig|
        Signal.trap(sig) do
          @stop = true
          if @child
            begin
              Process.kill("TERM", @child)
            rescue Errno::ESRCH
              nil
            end
          elsif @idle
            raise Stop
          end
        end
      end
    end

    def wait_for_redis
      @redis.ping
    rescue Redis::BaseError
      sleep PING_RETRY_S
      retry unless @stop
    end

    def perform_with_fork(payload)
      job = JSON.parse(payload)
      begin
        ConnlabResque.run_hooks(:before_fork, job)
        @child = fork { Child.new(job).run }
      rescue StandardError => e # a hook failed (Postgres full...), or fork did: the job fails in the worker
        ConnlabResque.report_failure(job["id"], e)
        count(STAT_FAILED)
        return
      end
      _, status = Process.wait2(@child)
      @child = nil
      if status.signaled? && !%w[TERM INT].include?(Signal.signame(status.termsig)) && !@stop
        ConnlabResque.report_failure(job["id"], DirtyExit.new("Child process received unhandled signal " \
                                                              "#{Signal.signame(status.termsig)}"))
      end
      count(status.success? ? STAT_PROCESSED : STAT_FAILED) unless @stop
    end

    def count(key)
      @redis.incr(key)
    rescue Redis::BaseError
      nil # a full Redis: the job's own line already says what failed
    end

    def reap_child
      return unless @child

      Process.kill("TERM", @child)
      Process.wait(@child)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    ensure
      @child = nil
    end
  end

  # The process that runs one job, forked by its worker; leaves with exit!.
  class Child
    def initialize(job)
      @job = job
    end

    def run
      # the system's default (Ruby's would raise SignalException into the job): TERM ends the child at once
      %w[TERM INT].each { |sig| Signal.trap(sig, "SYSTEM_DEFAULT") }
      code = 1
      begin
        @redis = ConnlabResque.new_redis # Resque's reconnect after fork: the child's own connection
        @redis.ping
        ConnlabResque.run_hooks(:after_fork, @job)
        Object.const_get(@job.fetch("class")).perform(*@job.fetch("args"))
        code = 0
      rescue Exception => e # rubocop:disable Lint/RescueException
        ConnlabResque.report_failure(@job["id"], e)
        record_failure(e)
      ensure
        close_own
      end
      exit!(code)
    end

    private

    # Resque's failure backend (Resque::Failure::Redis), from the child.
    def record_failure(error)
      @redis&.rpush(FAILED, JSON.generate("payload" => @job, "exception" => error.class.name,
                                          "error" => ConnlabErrors.first_line(error.message),
                                          "failed_at" => Time.now.utc.iso8601))
    rescue Redis::BaseError
      nil
    end

    # What this child opened (never what it inherited: exit! closes those fds without a word).
    def close_own
      ActiveRecord::Base.connection_pool.disconnect! if ActiveRecord::Base.connected?
      @redis&.close
    rescue StandardError
      nil
    end
  end

  # The process bin/worker is: forks the workers, announces readiness, replaces workers, stops them.
  class Supervisor
    def initialize(concurrency)
      @concurrency = concurrency
      @workers = {}
      @ready = 0
      @announced = false
      @stop_at = nil
      @respawn_at = []
    end

    def run
      $stdout.sync = true
      fork_safety = ENV.fetch("CONNLAB_FORK_SAFETY", "safe")
      # unsafe: the app touches the database at boot, in the process every worker and child is forked from
      ConnlabReporting.connect! if fork_safety == "unsafe"
      @read_io, @write_io = IO.pipe
      %w[TERM INT].each { |sig| Signal.trap(sig) { stop! } }
      @concurrency.times { start_worker }
      loop do
        read_ready
        reap
        now = monotonic
        if @stop_at
          break if @workers.empty?

          kill_all if now >= @stop_at
        else
          while @respawn_at.any? && @respawn_at.first <= now
            @respawn_at.shift
            start_worker
          end
        end
      end
      0
    end

    private

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    def start_worker
      pid = fork do
        code = 1
        begin
          @read_io.close
          %w[TERM INT].each { |sig| Signal.trap(sig, "DEFAULT") }
          code = Worker.new(Process.ppid, @write_io).run
        rescue Exception => e # rubocop:disable Lint/RescueException
          # Redis gone mid-run, say: one line, and the supervisor starts another worker
          ConnlabResque.say("connlab resque: worker pid=#{Process.pid} stopped: #{e.class.name}: " \
                            "#{ConnlabErrors.first_line(e.message)}")
        ensure
          # exit!: no at_exit hooks or finalizers, which would close what the supervisor opened
          $stdout.flush
          exit!(code)
        end
      end
      @workers[pid] = true
    end

    def read_ready
      return unless @read_io.wait_readable(TICK_S)

      data = @read_io.read_nonblock(64, exception: false)
      @ready += data.size if data.is_a?(String)
      return if @announced || @ready < @concurrency

      @announced = true
      ConnlabResque.say("connlab-ready resque-style pid=#{Process.pid} workers=#{@concurrency} " \
                        "fork_safety=#{ENV.fetch('CONNLAB_FORK_SAFETY', 'safe')} hooks=#{ConnlabResque.hooks?} " \
                        "group=#{ENV['CONNLAB_GROUP']}")
    end

    # Every child this process gets: its workers, and (as PID 1 in a container) orphans.
    def reap
      loop do
        pid, status = Process.wait2(-1, Process::WNOHANG)
        break if pid.nil?
        next unless @workers.delete(pid)
        next if @stop_at

        ConnlabResque.say("connlab resque: worker pid=#{pid} exited (#{status}), starting another in #{RESPAWN_S} s")
        @respawn_at << monotonic + RESPAWN_S
      end
    rescue Errno::ECHILD
      nil
    end

    def stop!
      return if @stop_at

      @stop_at = monotonic + SHUTDOWN_S
      signal_workers("TERM")
    end

    def kill_all
      signal_workers("KILL")
      @workers.each_key do |pid|
        Process.wait(pid)
      rescue Errno::ECHILD
        nil
      end
      @workers.clear
    end

    def signal_workers(sig)
      @workers.each_key do |pid|
        Process.kill(sig, pid)
      rescue Errno::ESRCH
        nil
      end
    end
  end
end

# Resque's name, so config/resque.rb reads as the guidance does (Resque itself is never loaded here).
Resque = ConnlabResque unless defined?(Resque)

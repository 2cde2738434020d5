# frozen_string_literal: true

# connlab check's Ruby half (harness/check/rails.py runs it): reads a Rails app's config files the way
# Rails, Puma, Sidekiq and Solid Queue read them, and prints one JSON document. Input on stdin:
#
#   {"app_dir": "/abs/app", "evaluate": true, "jobs": [{"id": "db-0", "kind": "database",
#                                      "path": "config/database.yml", "env": {"RAILS_ENV": "production", ...}}, ...]}
#
# kinds: database, puma, unicorn, sidekiq, queue (Solid Queue's config/queue.yml). Each job runs with ENV set to its
# "env" and nothing else, under a timeout; whatever it raises becomes {"error": {...}} in its result. The
# results hold raw facts (values, the lines that set them, the ENV reads and Puma DSL calls in order);
# rails.py turns them into settings and their sources.
#
# "evaluate": false (connlab check --no-eval): nothing of the app's runs (Connlab::Literal). YAML is read without
# its ERB: a figure an output tag (<%= %>) gives is nil in the result, with an "unevaluated" entry naming the
# figure, its line and its code; a statement tag (<% %>) shapes the file, so the job raises NotEvaluated. puma.rb
# and unicorn.rb are parsed (Ripper), never run: a DSL call at the top of the file with literal arguments is
# replayed on the stand-in, any other call of threads/workers/worker_processes/plugin is "unevaluated".

require "json"
require "yaml"
require "erb"
require "uri"
require "timeout"
require "pathname"
require "date"

OUT = $stdout.dup
$stdout = $stderr # what the app's own code prints must not reach the JSON

# exit! in the app's code ends its job, not this process
module Kernel
  def exit!(status = false) = raise(SystemExit.new(status == true ? 0 : 1, "exit!"))
end
Process.define_singleton_method(:exit!) { |status = false| raise SystemExit.new(status == true ? 0 : 1, "exit!") }

module Connlab
  JOB_TIMEOUT = 5

  class << self
    attr_accessor :app_dir, :events, :marks, :evaluate
  end
  self.events = []
  self.marks = []
  self.evaluate = true

  # --no-eval: what the job would have had to run, at +line+ of +path+
  class NotEvaluated < StandardError
    attr_reader :path, :line, :code

    def initialize(path, line, code)
      @path = path
      @line = line
      @code = code
      super("`#{code}` not evaluated (--no-eval)")
    end
  end

  # [path relative to the app, line] of the first frame in the app's own files, or nil
  def self.site(locations)
    locations.each do |loc|
      path = loc.path.to_s
      return [path.delete_prefix("#{app_dir}/"), loc.lineno] if path.start_with?("#{app_dir}/")
    end
    nil
  end

  def self.note(event, locations)
    where = site(locations)
    return if where.nil?

    events << event.merge("seq" => events.size, "path" => where[0], "line" => where[1])
  end

  # the object's identity when it can tell two reads apart (a String ENV returns), else nil
  def self.ref(value) = value.is_a?(String) ? value.object_id : nil

  def self.plain(value)
    case value
    when nil, true, false, Integer, Float, String then value
    when Symbol then value.to_s
    else value.to_s
    end
  end

  # every ENV read the app's files make: name, whether set, the value returned (a default when unset)
  module EnvTrace
    def fetch(key, *args, &block)
      present = key?(key)
      value = super
      Connlab.note({ "kind" => "env", "name" => key.to_s, "set" => present, "value" => Connlab.plain(value),
                     "ref" => Connlab.ref(value) }, caller_locations(1, 12))
      value
    end

    def [](key)
      value = super
      Connlab.note({ "kind" => "env", "name" => key.to_s, "set" => !value.nil?, "value" => value,
                     "ref" => Connlab.ref(value) }, caller_locations(1, 12))
      value
    end
  end
  ENV.singleton_class.prepend(EnvTrace)

  # this machine's processor count, as Rails 7.1's puma.rb reads it for its workers
  module CpuTrace
    %i[processor_count physical_processor_count available_processor_count nprocessors].each do |name|
      define_method(name) do |*args|
        value = super(*args)
        Connlab.note({ "kind" => "cpus", "name" => name.to_s, "value" => value }, caller_locations(1, 12))
        value
      end
    end
  end

  # config/puma.rb, evaluated as Puma's DSL loads it (instance_eval of the file, Puma::DSL#_load_from) on a stand-in
  # that takes threads and workers by the rules of the Puma version in Gemfile.lock ("puma_version", the host's
  # Puma plays no part), records them with preload_app! and plugin, and ignores every other call (hooks, binds ...;
  # no block run, no plugin loaded). From Puma's lib/puma/dsl.rb:
  #   threads(min, max): both required up to 6.4, threads(min, max = min) from 6.5 (v6.5.0 dsl.rb); Integer() of
  #     each, min <= max, max >= 1, else it raises (5.6.9 .. 7.2.1 alike)
  #   workers(count): count.to_i up to 7.1 (so "auto" is 0 and :auto raises NoMethodError); from 7.2 (v7.2.0,
  #     "Add workers :auto", #3827) nil is 0, :auto or "auto" the processor count, else Integer(count) or
  #     ArgumentError "workers must be an Integer or :auto"
  class PumaDSL
    def initialize(version)
      @version = Gem::Version.new(version.to_s.empty? ? "7.2.1" : version.to_s)
    end

    def threads(*args)
      expected = @version < Gem::Version.new("6.5") ? [2] : [1, 2]
      unless expected.include?(args.size)
        raise ArgumentError, "wrong number of arguments (given #{args.size}, expected #{expected.join('..')})"
      end
      min = Integer(args[0])
      max = Integer(args[-1])
      raise "The minimum (#{min}) number of threads must be less than or equal to the max (#{max})" if min > max
      raise "The maximum number of threads (#{max}) must be greater than 0" if max < 1

      Connlab.note({ "kind" => "dsl", "name" => "threads", "value" => max, "ref" => Connlab.ref(args[-1]) },
                   caller_locations(1, 12))
    end

    def workers(count)
      value = if @version < Gem::Version.new("7.2") then count.to_i
              elsif count.nil? then 0
              elsif [:auto, "auto"].include?(count) then "auto"
              else
                begin
                  Integer(count)
                rescue ArgumentError, TypeError
                  raise ArgumentError, "workers must be an Integer or :auto"
                end
              end
      Connlab.note({ "kind" => "dsl", "name" => "workers", "value" => value, "given" => Connlab.plain(count),
                     "ref" => Connlab.ref(count) }, caller_locations(1, 12))
    end

    def preload_app!(answer = true)
      Connlab.note({ "kind" => "dsl", "name" => "preload_app!", "value" => answer }, caller_locations(1, 12))
    end

    def plugin(name)
      Connlab.note({ "kind" => "dsl", "name" => "plugin", "value" => name.to_s }, caller_locations(1, 12))
    end

    # port, bind, pidfile, environment, on_worker_boot, before_fork ...: ignored, their blocks not run
    def method_missing(name, *args, &block)
      name.to_s.start_with?("to_") ? super : nil
    end

    def respond_to_missing?(name, include_private = false) = !name.to_s.start_with?("to_") || super
  end

  # Rails.env and Rails.root for ERB in YAML files (Rails itself is not loaded)
  class Inquirer < String
    def method_missing(name, *args)
      name.end_with?("?") ? self == name.to_s.chomp("?") : super
    end

    def respond_to_missing?(name, include_private = false) = name.end_with?("?") || super
  end

  def self.with_rails_stub
    stub = Module.new
    stub.define_singleton_method(:name) { "Rails" }
    stub.define_singleton_method(:inspect) { "Rails" }
    stub.define_singleton_method(:to_s) { "Rails" }
    stub.define_singleton_method(:env) { Inquirer.new(ENV.fetch("RAILS_ENV", "development")) }
    root = Pathname(app_dir)
    stub.define_singleton_method(:root) { root }
    Object.const_set(:Rails, stub) unless defined?(::Rails)
    yield
  ensure
    Object.send(:remove_const, :Rails) if defined?(::Rails) && ::Rails.equal?(stub)
  end

  # Sidekiq for ERB in YAML files, as the app's own process sees it: Bundler.require loads the gem in every
  # process, so it is defined whenever Gemfile.lock has it ("defined"), and Sidekiq.server? is true only in a
  # Sidekiq process ("server"). Nothing else of Sidekiq is stubbed: another call raises NoMethodError on Sidekiq.
  def self.with_sidekiq_stub(facts)
    stub = nil
    if facts.is_a?(Hash) && facts["defined"] && !defined?(::Sidekiq)
      stub = Module.new
      server = facts["server"] == true
      stub.define_singleton_method(:server?) { server }
      %i[name inspect to_s].each { |m| stub.define_singleton_method(m) { "Sidekiq" } }
      Object.const_set(:Sidekiq, stub)
    end
    yield
  ensure
    Object.send(:remove_const, :Sidekiq) if stub && defined?(::Sidekiq) && ::Sidekiq.equal?(stub)
  end

  # ERB, then YAML (aliases and merge keys allowed), as Rails and Sidekiq do: [data, the parse tree]. The ERB runs
  # in a clean top-level binding (as Rails' own ERB.new(...).result does), so constants resolve as in the app:
  # never inside Connlab, whose names the user's file must not see.
  def self.render_yaml(rel, trim_mode: nil, sidekiq: nil)
    return Literal.yaml(rel) unless evaluate

    erb = ERB.new(File.read(File.join(app_dir, rel)), trim_mode: trim_mode)
    erb.filename = File.join(app_dir, rel)
    text = with_rails_stub { with_sidekiq_stub(sidekiq) { erb.result(TOPLEVEL_BINDING.dup) } }
    data = YAML.safe_load(text, permitted_classes: [Symbol, Date, Time], aliases: true)
    [data, Psych.parse(text)]
  end

  # --no-eval: read the app's files without running any of it
  module Literal
    TOKEN = "connlab-not-evaluated-"
    TAG = /<%([=#-]?)(.*?)-?%>/m
    FIGURES = { "threads" => "threads", "workers" => "processes", "worker_processes" => "processes",
                "plugin" => "solid_queue", "preload_app!" => nil, "preload_app" => nil }.freeze

    class << self
      attr_accessor :tags
    end
    self.tags = []

    def self.short(code)
      code = code.to_s.gsub(/\s+/, " ").strip
      code.size > 60 ? "#{code[0, 57]}..." : code
    end

    # YAML with each output tag a placeholder (the lines kept), [data, the parse tree]; a statement tag raises
    def self.yaml(rel)
      source = File.read(File.join(Connlab.app_dir, rel)).gsub("<%%", "\u0001")
      first = tags.size
      text = source.gsub(TAG) do
        found = Regexp.last_match
        line = found.pre_match.count("\n") + 1
        lines = "\n" * found[0].count("\n")
        case found[1]
        when "#" then lines
        when "=" then (tags << [rel, line, "<%=#{found[2]}%>"]) && "#{TOKEN}#{tags.size - 1}#{lines}"
        else raise NotEvaluated.new(rel, line, short("<%#{found[1]}#{found[2]}%>"))
        end
      end.gsub("\u0001", "<%")
      begin
        [YAML.safe_load(text, permitted_classes: [Symbol, Date, Time], aliases: true), Psych.parse(text)]
      rescue Psych::Exception
        raise if tags.size == first

        raise NotEvaluated.new(*tags[first][0, 2], short(tags[first][2]))
      end
    end

    # +value+, or nil with an "unevaluated" entry when an output tag gave it
    def self.value(value, figure, extra = {})
      index = !Connlab.evaluate && value.is_a?(String) ? value[/#{TOKEN}(\d+)/o, 1] : nil
      return value if index.nil?

      path, line, code = tags[index.to_i]
      Connlab.marks << { "figure" => figure, "path" => path, "line" => line, "code" => short(code) }.merge(extra)
      nil
    end

    def self.tagged?(value) = !Connlab.evaluate && value.is_a?(String) && value.include?(TOKEN)

    # a literal argument node as Ruby source, or nil
    def self.argument(node)
      case node[0]
      when :@int then Integer(node[1]).inspect
      when :unary then node[1] == :-@ && node[2][0] == :@int ? (-Integer(node[2][1])).inspect : nil
      when :string_literal
        parts = node[1][1..]
        parts.empty? ? '""' : (parts.size == 1 && parts[0][0] == :@tstring_content ? parts[0][1].inspect : nil)
      when :symbol_literal then node[1][0] == :symbol && node[1][1][0] == :@ident ? node[1][1][1].to_sym.inspect : nil
      when :var_ref then node[1][0] == :@kw && %w[true false nil].include?(node[1][1]) ? node[1][1] : nil
      end
    rescue ArgumentError
      nil
    end

    # [name, line, argument nodes or nil (not a plain list)] of a receiver-less call, else nil
    def self.call(node)
      case node[0]
      when :command then [node[1][1], node[1][2][0], node[2][0] == :args_add_block ? node[2][1] : nil]
      when :method_add_arg
        return nil unless node[1][0] == :fcall

        args = node[2]
        args = args[1] if args.is_a?(Array) && args[0] == :arg_paren
        list = if args.nil? || args == [] then []
               elsif args[0] == :args_add_block then args[1]
               end
        [node[1][1][1], node[1][1][2][0], list]
      when :vcall then [node[1][1], node[1][2][0], []]
      end
    end

    def self.each_node(node, &block)
      return unless node.is_a?(Array)

      yield node if node[0].is_a?(Symbol)
      node.each { |child| each_node(child, &block) }
    end

    # puma.rb / unicorn.rb: each DSL call at the top level with literal arguments replayed on +dsl+ at its own line
    # (so the stand-in's rules and events are as when evaluated), every other one of them "unevaluated"
    def self.dsl(job, dsl)
      path = File.join(Connlab.app_dir, job["path"])
      source = File.read(path)
      require "ripper"
      tree = Ripper.sexp(source)
      raise SyntaxError, "#{job['path']}: not valid Ruby" if tree.nil?

      lines = source.lines
      top = tree[1].map(&:object_id)
      calls = []
      each_node(tree) do |node|
        found = call(node)
        calls << [node, *found] if found && FIGURES.key?(found[0])
      end
      calls.sort_by { |c| c[2] }.each do |node, name, line, args|
        literal = args&.map { |a| argument(a) }
        if top.include?(node.object_id) && literal && !literal.include?(nil)
          dsl.instance_eval("#{name}(#{literal.join(', ')})", path, line)
        elsif FIGURES[name]
          Connlab.marks << { "figure" => FIGURES[name], "path" => job["path"], "line" => line,
                             "code" => short(lines[line - 1]) }
          # plugin :solid_queue if ENV[...]: counted as loaded, its tree unknown
          replay = name == "plugin" && literal && !literal.include?(nil)
          dsl.instance_eval("#{name}(#{literal.join(', ')})", path, line) if replay
        end
      end
      {}
    end
  end

  def self.anchors(node, found = {})
    found[node.anchor] = node if node.respond_to?(:anchor) && node.anchor && !node.is_a?(Psych::Nodes::Alias)
    (node.children || []).each { |child| anchors(child, found) } if node.respond_to?(:children)
    found
  end

  # the [key, value] nodes for +key+ in a mapping (keys "name" or ":name"), following merge keys as YAML does
  def self.pair(node, key, anchors, depth = 0)
    node = anchors[node.anchor] if node.is_a?(Psych::Nodes::Alias)
    return nil unless node.is_a?(Psych::Nodes::Mapping) && depth < 32

    pairs = node.children.each_slice(2).to_a
    hit = pairs.reverse.find { |k, _| k.is_a?(Psych::Nodes::Scalar) && [key.to_s, ":#{key}"].include?(k.value) }
    return hit if hit

    pairs.each do |k, v|
      next unless k.is_a?(Psych::Nodes::Scalar) && k.value == "<<"

      (v.is_a?(Psych::Nodes::Sequence) ? v.children : [v]).each do |merged|
        found = pair(merged, key, anchors, depth + 1)
        return found if found
      end
    end
    nil
  end

  # the line (1-based) of the key at +path+ (strings for mapping keys, integers for sequence items), or nil
  def self.line_of(tree, path)
    return nil unless tree.respond_to?(:root) && tree.root

    known = anchors(tree)
    node = tree.root
    path.each_with_index do |step, i|
      node = known[node.anchor] if node.is_a?(Psych::Nodes::Alias)
      if step.is_a?(Integer)
        return nil unless node.is_a?(Psych::Nodes::Sequence) && node.children[step]

        node = node.children[step]
        return node.start_line + 1 if i == path.size - 1
      else
        found = pair(node, step, known)
        return nil if found.nil?
        return found[0].start_line + 1 if i == path.size - 1

        node = found[1]
      end
    end
    nil
  end

  def self.fetch_key(hash, key)
    return nil unless hash.is_a?(Hash)

    [key.to_s, key.to_sym, ":#{key}"].each { |k| return hash[k] if hash.key?(k) }
    nil
  end

  def self.url_facts(url)
    uri = URI.parse(url.to_s)
    query = URI.decode_www_form(uri.query.to_s).to_h
    scheme = uri.scheme.to_s
    { "adapter" => { "postgres" => "postgresql" }.fetch(scheme, scheme), "host" => uri.host, "port" => uri.port,
      "pool" => query["max_connections"] || query["pool"] }
  rescue URI::Error => e
    { "error" => "#{e.class}: #{e.message.lines.first.to_s.strip}" }
  end

  # config/database.yml for one environment: each database's adapter, pool, host, and where they came from
  def self.database(job)
    env = ENV.fetch("RAILS_ENV", "development")
    found = File.exist?(File.join(app_dir, job["path"]))
    data, tree = found ? render_yaml(job["path"], sidekiq: job["sidekiq"]) : [{}, nil]
    raise "not a mapping of environments" unless data.is_a?(Hash)

    section = data[env]
    named = section.is_a?(Hash) && !section.empty? && section.values.all?(Hash)
    configs = if named then section.map { |name, h| [name, h, [env, name]] }
              elsif section.is_a?(Hash) then [["primary", section, [env]]]
              elsif section.is_a?(String) then [["primary", { "url" => section }, [env]]]
              elsif ENV["DATABASE_URL"] then [["primary", {}, [env]]]
              else []
              end
    databases = configs.map do |name, h, path|
      env_url = "#{name.upcase}_DATABASE_URL"
      env_url = "DATABASE_URL" if ENV[env_url].nil? && name == "primary" && ENV["DATABASE_URL"]
      url, url_from = if ENV[env_url] then [ENV[env_url], "env #{env_url}"]
                      elsif h["url"] then [h["url"], "#{job['path']}:#{line_of(tree, path + ['url'])}"]
                      end
      h, url = literal_section(h, url, name) unless evaluate
      from_url = url ? url_facts(url) : {}
      pool_key = h.key?("max_connections") ? "max_connections" : "pool"
      { "name" => name, "adapter" => from_url["adapter"] || h["adapter"], "host" => from_url["host"] || h["host"],
        "port" => from_url["port"] || h["port"], "replica" => h["replica"] == true, "url_from" => url_from,
        "url_error" => from_url["error"], "url_pool" => from_url["pool"],
        "pool" => plain(Literal.value(h[pool_key], "pool", "database" => name)),
        "pool_key" => pool_key, "pool_line" => (line_of(tree, path + [pool_key]) if h.key?(pool_key)) }
    end
    { "environments" => data.keys.map(&:to_s), "env" => env, "databases" => databases }
  end

  # --no-eval: a database's section with what its output tags give: an adapter or url from ERB leaves its pool
  # "unevaluated" (counted as a Postgres database), a host or port from ERB is taken as the primary's
  def self.literal_section(section, url, name)
    h = section.dup
    extra = { "database" => name }
    if Literal.tagged?(url)
      Literal.value(url, "pool", extra)
      url = nil
      h["adapter"] ||= "postgresql"
    end
    if Literal.tagged?(h["adapter"])
      Literal.value(h["adapter"], "pool", extra)
      h["adapter"] = "postgresql"
    end
    %w[host port].each { |key| h.delete(key) if Literal.tagged?(h[key]) }
    h.delete("replica") if Literal.tagged?(h["replica"])
    [h, url]
  end

  def self.puma(job)
    source = File.read(File.join(app_dir, job["path"]))
    if evaluate && (source.include?("processor_count") || source.include?("nprocessors"))
      require "etc"
      Etc.singleton_class.prepend(CpuTrace) unless Etc.singleton_class.ancestors.include?(CpuTrace)
      begin
        require "concurrent-ruby"
        Concurrent.singleton_class.prepend(CpuTrace) unless Concurrent.singleton_class.ancestors.include?(CpuTrace)
      rescue LoadError
        nil
      end
    end
    return Literal.dsl(job, PumaDSL.new(job["puma_version"])) unless evaluate

    PumaDSL.new(job["puma_version"]).instance_eval(source, File.join(app_dir, job["path"]), 1)
    {}
  end

  # config/unicorn.rb, evaluated as Unicorn's Configurator does (instance_eval of the file) on a stand-in that
  # records worker_processes and preload_app, checks worker_processes as Unicorn's set_int does, and does
  # nothing else: no chdir for working_directory, no path checks, no hook run, no Unicorn needed
  class UnicornDSL
    def worker_processes(count)
      Integer === count or raise ArgumentError, "not an integer: worker_processes=#{count.inspect}"
      count >= 1 or raise ArgumentError, "too low (< 1): worker_processes=#{count.inspect}"
      Connlab.note({ "kind" => "dsl", "name" => "worker_processes", "value" => count }, caller_locations(1, 12))
    end

    def preload_app(answer)
      Connlab.note({ "kind" => "dsl", "name" => "preload_app", "value" => answer == true }, caller_locations(1, 12))
    end

    # listen, timeout, before_fork, after_fork, pid, stderr_path, working_directory ...: ignored
    def method_missing(name, *args, &block)
      name.to_s.start_with?("to_") ? super : nil
    end

    def respond_to_missing?(name, include_private = false) = !name.to_s.start_with?("to_") || super
  end

  def self.unicorn(job)
    return Literal.dsl(job, UnicornDSL.new) unless evaluate

    path = File.join(app_dir, job["path"])
    UnicornDSL.new.instance_eval(File.read(path), path)
    {}
  end

  # config/sidekiq.yml: concurrency (environment section first) and capsules, with their lines
  def self.sidekiq(job)
    data, tree = render_yaml(job["path"], trim_mode: "-", sidekiq: { "defined" => true, "server" => true })
    data ||= {}
    raise "not a mapping" unless data.is_a?(Hash)

    env = ENV["APP_ENV"] || ENV["RAILS_ENV"] || ENV["RACK_ENV"] || "development"
    section = fetch_key(data, env)
    scope = lambda do |key|
      if section.is_a?(Hash) && !fetch_key(section, key).nil? then [fetch_key(section, key), [env, key]]
      elsif !fetch_key(data, key).nil? then [fetch_key(data, key), [key]]
      end
    end
    concurrency, where = scope.call("concurrency")
    capsules, capsules_at = scope.call("capsules")
    capsules = Literal.value(capsules, "threads")
    capsules = capsules.is_a?(Hash) ? capsules : {}
    { "concurrency" => plain(Literal.value(concurrency, "threads")), "line" => where && line_of(tree, where),
      "capsules" => capsules.map do |name, conf|
        value = fetch_key(conf, "concurrency")
        { "name" => name.to_s, "concurrency" => plain(Literal.value(value, "threads")),
          "line" => value.nil? ? nil : line_of(tree, capsules_at + [name.to_s, "concurrency"]) }
      end }
  end

  # config/queue.yml (Solid Queue v1.x, read as its Configuration does: the RAILS_ENV section, else the whole file;
  # workers, dispatchers and scheduler; none of them: its fallback, one default worker and one dispatcher), and
  # config/recurring.yml (SOLID_QUEUE_RECURRING_SCHEDULE): the scheduler runs when it has a task with a schedule or
  # dynamic_tasks_enabled is set, unless SOLID_QUEUE_SKIP_RECURRING
  def self.queue(job)
    env = ENV.fetch("RAILS_ENV", "development")
    recurring = begin
      recurring_tasks(ENV["SOLID_QUEUE_RECURRING_SCHEDULE"] || "config/recurring.yml", env)
    rescue NotEvaluated => e
      marks << { "figure" => "processes", "path" => e.path, "line" => e.line, "code" => e.code }
      0
    end
    skip = %w[1 true yes on t y].include?(ENV["SOLID_QUEUE_SKIP_RECURRING"].to_s.downcase)
    facts = { "recurring" => recurring, "skip_recurring" => skip, "mode" => ENV["SOLID_QUEUE_SUPERVISOR_MODE"] }
    return facts.merge("found" => false) unless File.exist?(File.join(app_dir, job["path"]))

    data, tree = render_yaml(job["path"])
    data ||= {}
    raise "not a mapping" unless data.is_a?(Hash)

    section, base = data[env].is_a?(Hash) ? [data[env], [env]] : [data, []]
    configured = section.slice("workers", "dispatchers", "scheduler")
    return facts.merge("found" => true, "fallback" => true) if configured.empty?

    %w[workers dispatchers].each { |key| configured[key] = Literal.value(configured[key], "processes") }
    workers = Array(configured["workers"]).each_with_index.map do |w, i|
      w = {} unless w.is_a?(Hash)
      { "threads" => plain(Literal.value(w["threads"], "threads")),
        "processes" => plain(Literal.value(w["processes"], "processes")),
        "threads_line" => w.key?("threads") ? line_of(tree, base + ["workers", i, "threads"]) : nil,
        "processes_line" => w.key?("processes") ? line_of(tree, base + ["workers", i, "processes"]) : nil }
    end
    scheduler = configured["scheduler"].is_a?(Hash) ? configured["scheduler"] : {}
    Literal.value(scheduler["dynamic_tasks_enabled"], "processes")
    facts.merge("found" => true, "fallback" => false, "workers" => workers,
                "dispatchers" => Array(configured["dispatchers"]).size,
                "dispatchers_line" => line_of(tree, base + ["dispatchers"]),
                "dynamic_tasks" => scheduler["dynamic_tasks_enabled"] == true,
                "workers_line" => line_of(tree, base + ["workers"]))
  end

  # the recurring tasks with a schedule in the RAILS_ENV section of config/recurring.yml (else the whole file)
  def self.recurring_tasks(rel, env)
    return 0 unless File.exist?(File.join(app_dir, rel))

    data, = render_yaml(rel)
    return 0 unless data.is_a?(Hash)

    data = data[env] if data[env].is_a?(Hash)
    data.count { |_, task| task.is_a?(Hash) && task.key?("schedule") }
  end

  def self.describe(error, rel)
    if error.is_a?(NotEvaluated)
      return { "class" => "NotEvaluated", "message" => error.message, "line" => error.line, "path" => error.path,
               "code" => error.code }
    end

    where = (error.backtrace_locations || []).find { |loc| loc.path.to_s.end_with?("/#{rel}") }
    line = where&.lineno
    line ||= error.line if error.respond_to?(:line) && error.line.is_a?(Integer)
    line ||= error.message[/:(\d+):/, 1]&.to_i if error.is_a?(ScriptError)
    message = error.message.lines.first.to_s.strip.gsub("#{app_dir}/", "").sub(/\A#{Regexp.escape(rel)}:\d+:\s*/, "")
    { "class" => error.class.name, "message" => message, "line" => line,
      "key" => error.is_a?(KeyError) && error.receiver.equal?(ENV) ? error.key.to_s : nil }
  end

  def self.run(job)
    self.events = []
    self.marks = []
    ENV.replace(job["env"].transform_values(&:to_s))
    result = Timeout.timeout(job.fetch("timeout_s", JOB_TIMEOUT)) { send(job["kind"], job) }
    result.merge("events" => events, "unevaluated" => marks)
  rescue Timeout::Error
    limit = job.fetch("timeout_s", JOB_TIMEOUT)
    { "error" => { "class" => "Timeout", "message" => "did not finish within #{limit} s", "line" => nil },
      "events" => events, "unevaluated" => marks }
  rescue Exception => e # rubocop:disable Lint/RescueException -- the app's code: report whatever it raises
    { "error" => describe(e, job["path"]), "events" => events, "unevaluated" => marks }
  end
end

# in a method: no local variable of this script is seen by the app's ERB (evaluated at the top level)
def connlab_main
  request = JSON.parse($stdin.read)
  Connlab.app_dir = File.realpath(request.fetch("app_dir"))
  Connlab.evaluate = request.fetch("evaluate", true) != false
  Dir.chdir(Connlab.app_dir)
  results = request.fetch("jobs").to_h { |job| [job.fetch("id"), Connlab.run(job)] }
  OUT.write(JSON.generate({ "ruby" => RUBY_VERSION, "results" => results }))
  OUT.flush
end

connlab_main

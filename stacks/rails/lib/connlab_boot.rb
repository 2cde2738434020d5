# frozen_string_literal: true

# Preflight shared by bin/* and app.rb: a missing environment variable or a
# missing system gem ends the process with one clear line on stderr and exit
# status 2 (no backtrace). Loads nothing but RubyGems, so it costs ~no time.
module ConnlabBoot
  APT = "apt-get install ruby-rails puma ruby-pg ruby-redis ruby-sidekiq"

  # gem name => Debian package that ships it
  GEMS = {
    "railties" => "ruby-rails", "activerecord" => "ruby-rails",
    "actionpack" => "ruby-rails", "activesupport" => "ruby-rails",
    "pg" => "ruby-pg", "redis" => "ruby-redis", "sidekiq" => "ruby-sidekiq",
    "connection_pool" => "ruby-connection-pool", "puma" => "puma",
  }.freeze

  module_function

  def die(line)
    $stderr.puts "connlab rails app: #{line}"
    exit! 2 # exit! : no at_exit hooks, nothing else printed
  end

  # Every name must be set and non-empty.
  def require_env!(*names)
    names.flatten.each do |name|
      v = ENV[name]
      die("missing environment variable #{name}") if v.nil? || v.strip.empty?
    end
  end

  def int!(name)
    Integer(ENV.fetch(name), 10)
  rescue KeyError
    die("missing environment variable #{name}")
  rescue ArgumentError
    die("environment variable #{name} must be an integer, got #{ENV[name].inspect}")
  end

  def float!(name)
    Float(ENV.fetch(name))
  rescue KeyError
    die("missing environment variable #{name}")
  rescue ArgumentError
    die("environment variable #{name} must be a number, got #{ENV[name].inspect}")
  end

  # An optional variable with a fixed set of values; unset or empty means
  # `default` (written back to ENV so later readers see it).
  def choice!(name, values, default)
    v = ENV[name].to_s.strip
    v = default if v.empty?
    return ENV[name] = v if values.include?(v)

    die("environment variable #{name} must be one of #{values.join(', ')}, got #{ENV[name].inspect}")
  end

  # Checks gems are installed without loading them.
  def require_gems!(*names)
    names.flatten.each do |name|
      Gem::Specification.find_by_name(name)
    rescue Gem::MissingSpecError
      die("missing Ruby gem '#{name}' (Debian package #{GEMS.fetch(name, name)}); install with: #{APT}")
    end
  end

  # `require` that turns a LoadError into the same one-line exit 2.
  def load_gem(feature, gem_name)
    require feature
  rescue LoadError => e
    die("cannot load '#{feature}' (#{e.message.lines.first.strip}); Debian package " \
        "#{GEMS.fetch(gem_name, gem_name)}; install with: #{APT}")
  end

  def gem_bin(gem_name, exe)
    Gem.bin_path(gem_name, exe)
  rescue Gem::Exception
    die("missing executable '#{exe}' of gem '#{gem_name}' (Debian package " \
        "#{GEMS.fetch(gem_name, gem_name)}); install with: #{APT}")
  end
end

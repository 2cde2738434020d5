# frozen_string_literal: true

# Rack entry for Puma or Unicorn (bin/web; config/puma.rb and config/unicorn.rb
# preload it in the master).
require_relative "app"

if ENV["CONNLAB_FORK_SAFETY"] == "unsafe"
  # The fork-safety mistake (see ConnlabReporting in app.rb): connect at boot,
  # in the Puma / Unicorn master, and let the workers inherit the sockets. The
  # ActiveRecord connection is discarded by ActiveRecord itself in each worker
  # (it stays open, idle, in the master); the raw reporting connection is
  # shared by the master and every worker.
  ActiveRecord::Base.connection.execute("SELECT 1").clear
  ConnlabReporting.connect!
end

run Rails.application

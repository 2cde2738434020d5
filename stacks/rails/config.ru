# frozen_string_literal: true

# Rack entry for Puma (bin/web, config/puma.rb preloads it in the master).
require_relative "app"

run Rails.application

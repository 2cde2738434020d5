"""The Rails sample app says what it needs on the host in its own folder (stacks/rails/host-needs.txt), and
connlab's probe and install read it from there."""

from __future__ import annotations

from harness.stack.apps import RAILS_PACKAGES, RAILS_PROBE, UNICORN_PROBE, host_needs


def test_the_rails_apps_needs_are_read_from_its_folder() -> None:
    assert RAILS_PACKAGES == ("ruby", "ruby-rails", "puma", "ruby-pg", "ruby-redis", "ruby-sidekiq", "unicorn")
    assert RAILS_PROBE == ('require "rails"; require "active_record"; require "puma"; require "pg"; '
                           'require "redis"; require "sidekiq"')
    assert UNICORN_PROBE == 'require "unicorn"'


def test_an_app_without_the_file_needs_nothing_on_the_host() -> None:
    assert host_needs("python") == {}

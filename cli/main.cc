// shardserve: one command line with a subcommand per role.
//   generate     run a model on this machine and stream its text to stdout
//   coordinator  the HTTP front door: the OpenAI API over the worker groups
//   worker       one MPI rank of a worker group (under mpirun)
//   up           a whole local cluster: coordinator + worker groups via mpirun
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"shardserve: an OpenAI-compatible LLM inference cluster"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "shardserve 0.1.0");
  int exit_code = 0;
  shardserve::cli::add_generate_command(app, exit_code);
  shardserve::cli::add_coordinator_command(app, exit_code);
  shardserve::cli::add_up_command(app, exit_code);
  shardserve::cli::add_worker_command(app, exit_code, argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}

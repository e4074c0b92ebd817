"""What the CLI's commands do, without the terminal: each job is one call a test can make."""

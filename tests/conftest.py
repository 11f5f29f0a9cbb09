"""Shared fixtures. Real components (sshd, SMTP, ODBC databases) come from tests/fixtures/."""
pytest_plugins = [
    "tests.fixtures.sshd",
    "tests.fixtures.smtp",
    "tests.fixtures.postgres",
]

"""The airing log: SQLAlchemy tables, the repository the service records through, and the
auditors' queries. SQLAlchemy is used nowhere else (Alembic scripts live in ``migrations/``)."""

"""The one function that hides a database URL's password, and the storage messages using it."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ipfm_scheduler.config.addresses import redacted
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.storage.db import describe, parse_url, shown


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("postgresql://postgres:s3cret@PW@127.0.0.1/x", "postgresql://postgres:***@127.0.0.1/x"),
        ("postgresql://u:pa/ss@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://user@server:pw@h/db", "postgresql://user@server:***@h/db"),
        ("postgresql://u:pw@h/d@b", "postgresql://u:***@h/d@b"),
        ("postgresq://u:pw@h/x", "postgresq://u:***@h/x"),
        ("postgres:u:pw@h/x", "postgres:***@h/x"),  # no '//': the user part starts the text
        (
            "postgresql://u@h/db?password=pw&port=5439",
            "postgresql://u@h/db?password=***&port=5439",
        ),
        (
            "postgresql://u@h/db?sslmode=require&sslpassword=pw",
            "postgresql://u@h/db?sslmode=require&sslpassword=***",
        ),
        ("postgresql://u@h:5432/db", "postgresql://u@h:5432/db"),
        ("sqlite:////var/lib/a:b@c.db", "sqlite:////var/lib/a:b@c.db"),
        ("not a url", "not a url"),
    ],
)
def test_redacted_masks_every_password(url: str, expected: str):
    assert redacted(url) == expected


def test_shown_masks_the_query_password_and_the_whole_password_with_an_at_sign():
    assert shown("postgresql://u@h/db?password=pw") == "postgresql://u@h/db?password=***"
    misread = make_url("postgresql+psycopg://postgres:s3cret@PW@127.0.0.1/x")
    assert shown(misread) == "postgresql+psycopg://postgres:***@127.0.0.1/x"
    assert shown("postgresq://u:s3cretPW@h/x") == "postgresq://u:***@h/x"


@pytest.mark.parametrize(
    "url",
    ["postgresql//u:s3cretPW@h/x", "postgresql://u:s3cretPW@h:notaport/x"],
)
def test_parse_url_refuses_without_the_password_or_a_traceback(url: str):
    with pytest.raises(StorageError) as refused:
        parse_url(url)
    assert "u:***@h" in str(refused.value)
    assert "s3cretPW" not in str(refused.value)


def test_parse_url_refuses_an_unescaped_at_sign_in_the_password():
    with pytest.raises(StorageError, match="write each '@' of the password as %40") as refused:
        parse_url("postgresql://u:s3cret@PW@h/x")
    assert "s3cret" not in str(refused.value)
    assert "PW@" not in str(refused.value)


def test_describe_masks_a_password_the_driver_quoted():
    url = "postgresql+psycopg://u@h/db?password=s3cretPW"
    error = OperationalError("connect", {}, Exception('bad option value "s3cretPW"'))
    assert describe(error, url) == (
        'database postgresql+psycopg://u@h/db?password=***: bad option value "***"'
    )

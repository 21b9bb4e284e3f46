# ruff: noqa: E501
"""Every kind of `validate` problem, in Vietnamese and in English (issue 14): each case makes
one mistake in a ward file or the station file, then runs `validate` as a user does with
``--lang vi`` and ``--lang en``. English reads as before; Vietnamese says the same at the same
file:line:column and key path, with none of the English sentence left; ``--format json`` is
the same bytes in both."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from tests.config.conftest import KH179_AUDIO, KH179_FILE, MINIMAL_WARD
from tests.config.speaking import assert_translated, problems_of, run, speak_english

if TYPE_CHECKING:
    from tests.config.conftest import Station

pytestmark = pytest.mark.usefixtures("ffmpeg")
Setup = Callable[["Station"], None]
KEY = "0123456789abcdef0123456789abcdef"  # a signing key long enough


@pytest.fixture(autouse=True)
def _english_after():  # type: ignore[no-untyped-def]
    yield
    speak_english()


@pytest.fixture
def small(station: Station) -> Station:
    """The sample station with one ward, cam-trung (MINIMAL_WARD): one run takes a blink."""
    for path in (station.folder / "wards").glob("*.yaml"):
        path.unlink()
    station.write_ward("cam-trung.yaml", MINIMAL_WARD)
    return station


def ward(old: str, new: str) -> Setup:
    assert old in MINIMAL_WARD, old
    return lambda s: s.write_ward("cam-trung.yaml", MINIMAL_WARD.replace(old, new, 1))


def ward_many(*edits: tuple[str, str]) -> Setup:
    def setup(s: Station) -> None:
        text = MINIMAL_WARD
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new, 1)
        s.write_ward("cam-trung.yaml", text)

    return setup


def ward_text(text: str | bytes, name: str = "cam-trung.yaml") -> Setup:
    def setup(s: Station) -> None:
        path = s.ward_path(name)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")

    return setup


def station(old: str, new: str) -> Setup:
    return lambda s: s.edit_station(old, new)


def station_append(text: str) -> Setup:
    def setup(s: Station) -> None:
        (s.folder / "key.txt").write_text(KEY + "\n", encoding="utf-8")
        (s.folder / "short.txt").write_text("short\n", encoding="utf-8")
        (s.folder / "empty.txt").write_text("", encoding="utf-8")
        with s.path.open("a", encoding="utf-8") as file:
            file.write("\n" + text)

    return setup


def _mp3_named_wrongly(s: Station) -> None:
    audio = s.folder.parent / "audio"
    shutil.copy(audio / KH179_FILE, audio / ("0" * 64 + ".mp3"))
    s.edit_station(KH179_AUDIO, f"    audio: {'0' * 64}.mp3")


def _wav(s: Station) -> None:
    (s.folder.parent / "audio" / "kh179.wav").write_bytes(b"RIFF")
    s.edit_station(KH179_AUDIO, "    audio: kh179.wav")


def _link_out(s: Station) -> None:
    os.symlink(s.path, s.ward_path("elsewhere.yaml"))  # the station file: outside the folder


def _no_wards(s: Station) -> None:
    s.ward_path("cam-trung.yaml").unlink()


W = "wards/cam-trung.yaml"
C = pytest.param
# fmt: off
CASES = [
    # values and their kinds (config/kinds.py, reader.py)
    C(ward('at: "06:00"', 'at: "25:00"'), f'{W}:16:9: airings[1].at: "25:00" is not a time of day', "không phải là giờ trong ngày", id="time"),
    C(ward('at: "06:00"', 'at: "06:00:00"'), "seconds are not used", "không dùng giây", id="seconds"),
    C(ward('at: "06:00"', 'at: "6.00"'), "write it with a colon, like 6:00", "ghi với dấu hai chấm, như 6:00", id="time-dot"),
    C(ward('at: "06:00"', 'at: "6:0"'), "with two digits, like 6:00", "hai chữ số, như 6:00", id="minutes"),
    C(ward('at: "06:00"', 'at: "06:00"\n    volum: 80'), 'unknown key "volum" (did you mean "volume"?); an airing has the keys', 'khóa không xác định "volum" (có phải ý bạn là "volume"?); một lượt phát có các khóa', id="unknown-key"),
    C(ward('at: "06:00"', 'at: "06:00"\n    at: "06:10"'), 'the key "at" appears twice (first on line 16)', 'khóa "at" xuất hiện hai lần (lần đầu ở dòng 16)', id="key-twice"),
    C(ward("name: Phường Cẩm Trung\n", ""), 'the key "name" is missing (the ward\'s name', 'thiếu khóa "name" (tên của phường', id="missing-key"),
    C(ward('at: "06:00"', 'at: "06:00"\n    <<: {volume: 80}'), "merge keys (<<) are not supported", "không hỗ trợ khóa gộp", id="merge-key"),
    C(ward('at: "06:00"', 'at: "06:00"\n    ? [a]\n    : 1'), "a key must be a single word, found a list", "khóa phải là một từ đơn, nhưng gặp một danh sách", id="key-not-a-word"),
    C(ward('receivers:\n  - id: loa-01\n    location: "Tổ 1, khu 2"\n', "receivers: 5\n"), 'expected a list of receivers, found "5"', 'cần một danh sách cụm loa, nhưng gặp "5"', id="not-a-list"),
    C(ward('  - id: loa-01\n    location: "Tổ 1, khu 2"\n', "  - loa-01\n"), 'expected a receiver, found "loa-01"', 'cần một cụm loa, nhưng gặp "loa-01"', id="not-a-mapping"),
    C(ward("name: Phường Cẩm Trung", "name:"), "name: is empty; expected a text", "name: đang trống; cần một đoạn văn bản", id="empty"),
    C(ward("id: loa-01", "id: Loa 01"), '"Loa 01" is not a valid id: use 1 to 64 characters', "không phải là mã hợp lệ: dùng từ 1 đến 64 ký tự", id="id"),
    C(ward("id: loa-01", "id: " + "l" * 70), "is too long for an id (70 characters, at most 64)", "quá dài để làm mã (70 ký tự, tối đa 64)", id="id-too-long"),
    C(ward('location: "Tổ 1, khu 2"', 'location: "Tổ 1, khu 2"\n    enabled: maybe'), '"maybe" is not true or false', "không phải là true hoặc false", id="bool"),
    C(ward('at: "06:00"', 'at: "06:00"\n    volume: loud'), '"loud" is not a whole number from 0 to 100', '"loud" không phải là một số nguyên từ 0 đến 100', id="number"),
    C(ward('at: "06:00"', 'at: "06:00"\n    volume: "80"'), "is in quotes: write the number without quotes", "nằm trong dấu ngoặc kép", id="number-quoted"),
    C(ward('at: "06:00"', 'at: "06:00"\n    volume: 150'), "150 is out of range: expected a whole number from 0 to 100", "150 nằm ngoài phạm vi: cần một số nguyên từ 0 đến 100", id="number-range"),
    C(ward("days: [mon, thu]", "days: [mon, thx]"), '"thx" is not a day: write mon, tue', '"thx" không phải là ngày trong tuần: ghi mon, tue', id="day"),
    C(ward("days: [mon, thu]", "days: [mon thu]"), "(separate the days with commas: [mon, thu])", "(ngăn cách các ngày bằng dấu phẩy: [mon, thu])", id="days-commas"),
    C(ward("days: [mon, thu]", "days: []"), "is empty; expected a list of days, such as [mon, thu]", "đang trống; cần một danh sách ngày trong tuần, ví dụ [mon, thu]", id="days-empty"),
    C(ward("days: [mon, thu]", "dates: [2027-13-01]"), '"2027-13-01" is not a date (YYYY-MM-DD or dd/mm/yyyy, such as 2027-02-06)', "không phải là ngày tháng (YYYY-MM-DD hoặc dd/mm/yyyy, ví dụ 2027-02-06)", id="date"),
    C(ward("days: [mon, thu]", "dates: [04.02.2027]"), "write 2027-02-04, or 04/02/2027 with slashes", "ghi 2027-02-04, hoặc 04/02/2027 với dấu gạch chéo", id="date-dots"),
    C(ward("days: [mon, thu]", 'dates: ["31/02/2027"]'), "is not a date: month 02/2027 has 28 days, not 31", "không phải là ngày tháng: tháng 02/2027 có 28 ngày, không có ngày 31", id="no-such-day"),
    C(ward("days: [mon, thu]", 'dates: ["01/13/2027"]'), "there is no month 13 (dd/mm/yyyy: the month is in the middle)", "không có tháng 13 (dd/mm/yyyy: tháng nằm ở giữa)", id="no-such-month"),
    C(ward("days: [mon, thu]", "dates: [1999-01-04]"), "is outside the years 2000-2099", "nằm ngoài các năm 2000-2099", id="date-years"),
    # a ward file on its own (config/ward_file.py)
    C(ward("id: cam-trung", "id: cam-trungg"), "does not match the file name cam-trung.yaml: a ward file is named after its id", "không khớp với tên tệp cam-trung.yaml", id="id-file-name"),
    C(ward('location: "Tổ 1, khu 2"\n', 'location: "Tổ 1, khu 2"\n  - id: loa-01\n'), 'the receiver id "loa-01" is already used by receivers[1] (line 4)', 'mã cụm loa "loa-01" đã được dùng cho receivers[1] (dòng 4)', id="receiver-twice"),
    C(ward('to: "06:30"', 'to: "05:00"'), '"05:00" is not after the window\'s start "05:30"', '"05:00" không sau giờ bắt đầu "05:30" của khung giờ', id="window-order"),
    C(ward("    days: [mon, thu]\n", "    days: [mon, thu]\n    dates: [2027-02-04]\n"), 'has both "days" and "dates"', 'có cả "days" và "dates"', id="days-and-dates"),
    C(ward("    days: [mon, thu]\n", ""), 'needs "days" (every week, such as [mon, thu]) or "dates"', 'cần "days" (hằng tuần, ví dụ [mon, thu]) hoặc "dates"', id="no-days"),
    C(ward_text(""), "the file is empty; a ward file has the keys id, name", "tệp trống; một tệp phường có các khóa id, name", id="empty-file"),
    C(ward_text("- a\n"), "expected a ward file, found a list", "cần một tệp phường, nhưng gặp một danh sách", id="file-a-list"),
    # against the station (config/checks.py)
    C(ward("programme: kh179", "programme: kh178"), '"kh178" is not a programme of this station (did you mean "kh179"?) (the station\'s programmes: kh179)', 'không phải là chương trình của đài này (có phải ý bạn là "kh179"?) (các chương trình của đài: kh179)', id="programme"),
    C(ward('at: "06:00"', 'at: "07:00"'), "kh179 at 07:00 on mon, thu starts outside every window open that day", "kh179 lúc 07:00 vào mon, thu bắt đầu ngoài mọi khung giờ mở trong ngày đó", id="outside-window"),
    C(ward('at: "06:00"', 'at: "06:29"'), "past the end of the window 05:30-06:30", "sau khi khung giờ 05:30-06:30 kết thúc", id="overrun"),
    C(ward_many(("days: [mon, thu]", "dates: [2027-02-04]"), ('at: "06:00"\n', 'at: "06:00"\nskip_dates: [2027-02-04]\n')), "2027-02-04 is also in skip_dates", "04/02/2027 cũng có trong skip_dates", id="skip-date"),
    C(ward("days: [mon, thu]", "dates: [2022-01-03]"), "2022-01-03 is outside the kh179 campaign (2022-07-04 to open-ended)", "03/01/2022 nằm ngoài đợt tuyên truyền kh179 (04/07/2022 đến không thời hạn)", id="campaign"),
    C(ward('  - programme: kh179\n    days: [mon, thu]\n    at: "06:00"\n', "  []\n"), "cam-trung plans 0 airings of kh179 a week; the minimum is 1 (every ISO week from 2022-W27 on)", "cam-trung lên lịch 0 lượt phát kh179 mỗi tuần; mức tối thiểu là 1 (mọi tuần ISO từ 2022-W27 trở đi)", id="weekly"),
    C(ward('at: "06:00"\n', 'at: "06:00"\nskip_dates: [2027-02-01, 2027-02-04]\n'), "2027-W05 (2027-02-01 to 2027-02-07): 0 airings, 2027-02-01, 2027-02-04 are skip dates", "2027-W05 (01/02/2027 đến 07/02/2027): 0 lượt phát, 01/02/2027, 04/02/2027 là ngày nghỉ phát", id="weekly-skipped"),
    # YAML itself (config/nodes.py)
    C(ward('    at: "06:00"', '\tat: "06:00"'), "a tab character is used here", "ở đây có ký tự tab", id="tab"),
    C(ward('at: "06:00"', 'at: "06:00'), "the quote opened at line 16, column 9 is never closed", "dấu ngoặc kép mở ở dòng 16, cột 9 không bao giờ được đóng", id="quote"),
    C(ward("id: cam-trung", "id:cam-trung"), "put a space after the ':' (write `id: cam-trung`)", "thêm dấu cách sau dấu ':' (ghi `id: cam-trung`)", id="colon-space"),
    C(ward("  - id: loa-01", "  -id: loa-01"), "put a space after the '-' that starts a list item", "thêm dấu cách sau dấu '-' mở đầu một mục danh sách", id="dash-space"),
    C(ward("  - id: loa-01", "  - id loa-01"), "this line has a key without ':' after it (write it as `id: loa-01`)", "dòng này có một khóa không có dấu ':' theo sau (ghi thành `id: loa-01`)", id="no-colon"),
    C(ward("  - id: loa-01", "\u00a0\u00a0- id: loa-01"), "indented with non-breaking spaces", "thụt lề bằng dấu cách không ngắt", id="nbsp"),
    C(ward('location: "Tổ 1, khu 2"', 'location: "Tổ "1", khu 2"'), "inside this value ends it early", "làm giá trị kết thúc sớm", id="quote-inside"),
    C(ward("days: [mon, thu]", "days: [mon, thu"), "the list opened with '[' at line 15, column 11 is not closed", "danh sách mở bằng '[' tại dòng 15, cột 11 không được đóng", id="open-list"),
    C(ward_text(MINIMAL_WARD + "---\nid: x\n"), "the file holds more than one document", "tệp chứa nhiều hơn một tài liệu", id="documents"),
    C(ward_many(("days: [mon, tue, wed, thu, fri, sat, sun]", "days: &all [mon, tue, wed, thu, fri, sat, sun]"), ("days: [mon, thu]", "days: *all")), "anchors and aliases (&name, *name, <<: *name) are not supported", "không hỗ trợ neo và bí danh", id="anchor"),
    C(ward("name: Phường Cẩm Trung", "name: Phường\x07 Cẩm Trung"), "an invisible control character (U+0007) is here", "ký tự điều khiển vô hình (U+0007)", id="control"),
    C(ward_text(MINIMAL_WARD.encode("utf-8").replace("ờ".encode(), b"\xe9")), "the file is not UTF-8 text: save it as UTF-8", "tệp không phải văn bản UTF-8: hãy lưu dạng UTF-8", id="not-utf8"),
    C(ward_text(MINIMAL_WARD.encode("utf-16")), "it looks saved as UTF-16", "có vẻ được lưu dạng UTF-16", id="utf16"),
    # the wards folder (config/source.py, loader.py)
    C(ward_text(MINIMAL_WARD, "cam-son.yaml.txt"), "not read: the name of a ward file ends in .yaml (rename it to cam-son.yaml", "không được đọc: tên tệp phường kết thúc bằng .yaml (đổi tên thành cam-son.yaml", id="not-yaml"),
    C(ward_text(MINIMAL_WARD, "copy.yaml"), 'the ward id "cam-trung" is already used by wards/cam-trung.yaml', 'mã phường "cam-trung" đã được dùng trong wards/cam-trung.yaml', id="ward-twice"),
    C(lambda s: s.ward_path("x.yaml").mkdir(), "x.yaml is a folder, not a ward file", "x.yaml là một thư mục, không phải tệp phường", id="folder"),
    C(_link_out, "elsewhere.yaml is a link to a file outside the wards folder", "là liên kết tới một tệp nằm ngoài thư mục phường", id="link-out"),
    C(ward_text("#" * 1_100_000, "big.yaml"), "big.yaml is 1,100,000 bytes, more than a ward file may be (1,048,576): not read", "big.yaml có 1,100,000 byte, lớn hơn mức cho phép của tệp phường", id="too-big"),
    C(_no_wards, "holds no ward files", "không có tệp phường nào", id="no-wards"),
    # the station file (config/station_file.py, station_programmes.py, addresses.py)
    C(station("timezone: Asia/Ho_Chi_Minh", "timezone: Asia/Ho_Chi_Min"), '"Asia/Ho_Chi_Min" is not a known time zone (did you mean "Asia/Ho_Chi_Minh"?)', 'không phải là múi giờ đã biết (có phải ý bạn là "Asia/Ho_Chi_Minh"?)', id="timezone"),
    C(station("timezone: Asia/Ho_Chi_Minh", "time_zone: Asia/Ho_Chi_Minh"), 'the key "timezone" is missing (IANA time zone', 'thiếu khóa "timezone" (múi giờ IANA', id="station-missing-key"),
    C(station("language: vi", "language: fr"), '"fr" is not a language: write vi (Vietnamese) or en', "không phải là ngôn ngữ: ghi vi (tiếng Việt) hoặc en", id="language"),
    C(station("language: vi", "languge: vi"), 'unknown key "languge" (did you mean "language"?); the station file has the keys', 'khóa không xác định "languge" (có phải ý bạn là "language"?); tệp cấu hình đài có các khóa', id="station-unknown-key"),
    C(station("database: sqlite:///../var/ipfm.db\n", ""), 'the key "database" is missing', 'thiếu khóa "database"', id="database-missing"),
    C(station("database: sqlite:///../var/ipfm.db", "database:"), "is empty; write the airing log's database", "đang trống; ghi cơ sở dữ liệu", id="database-empty"),
    C(station("database: sqlite:///../var/ipfm.db", "database: mysql://h/db"), "is not a database URL this program can use", "không phải là URL cơ sở dữ liệu", id="database-url"),
    C(station("database: sqlite:///../var/ipfm.db", "database: postgresql://"), "names no database server", "không chỉ ra máy chủ cơ sở dữ liệu", id="database-server"),
    C(station("database: sqlite:///../var/ipfm.db", "database: postgresql://u:p@ss@h/db"), "the password holds an '@'", "mật khẩu chứa '@'", id="database-at"),
    C(station("database: sqlite:///../var/ipfm.db", "database: postgresql://u@h:abc/db"), "the port abc is not a number", "cổng abc không phải là số", id="database-port"),
    C(station("database: sqlite:///../var/ipfm.db", "database: postgresql://u@h:70000/db"), "is not a port number (1 to 65535)", "không phải là số cổng (1 đến 65535)", id="database-port-range"),
    C(station("database: sqlite:///../var/ipfm.db", "database: sqlite:/x.db"), "is not an SQLite URL", "không phải là URL SQLite", id="sqlite"),
    C(station("database: sqlite:///../var/ipfm.db", "database: sqlite:///"), "names no database file", "không chỉ ra tệp cơ sở dữ liệu", id="sqlite-file"),
    C(station("url: mqtt://127.0.0.1:1883", "url: http://127.0.0.1:1883"), "is not a broker address (write mqtt://HOST:1883", "không phải là địa chỉ broker (ghi mqtt://HOST:1883", id="broker"),
    C(station("url: mqtt://127.0.0.1:1883", "url: mqtt://u:pw@127.0.0.1:1883"), "the address holds a password", "địa chỉ có chứa mật khẩu", id="broker-password"),
    C(station("url: mqtt://127.0.0.1:1883", "url: mqtt://127.0.0.1:abc"), "has a port that is not a number from 1 to 65535", "có cổng không phải là số từ 1 đến 65535", id="broker-port"),
    C(station("url: mqtt://127.0.0.1:1883", "url: mqtt://:1883"), "names no host", "không chỉ ra máy chủ nào", id="broker-host"),
    C(station("topic_prefix: ipfm", "topic_prefix: ipfm/#"), "is not a topic prefix", "không phải là tiền tố topic", id="topic"),
    C(station("client_id: ipfm-scheduler", 'client_id: "ipfm scheduler"'), "is not a valid client id", "không phải là mã client hợp lệ", id="client-id"),
    C(station("client_id: ipfm-scheduler", "client_id: ipfm-scheduler\n  ca_file: nope.pem"), "nope.pem does not exist", "nope.pem không tồn tại", id="ca-file"),
    C(station("client_id: ipfm-scheduler", "client_id: ipfm-scheduler\n  password_file: key.txt\n  password_env: X"), "give either password_file or password_env, not both", "chỉ ghi password_file hoặc password_env, không ghi cả hai", id="password-both"),
    C(station("client_id: ipfm-scheduler", "client_id: ipfm-scheduler\n  password_env: IPFM_NO_SUCH_VARIABLE"), "the environment variable IPFM_NO_SUCH_VARIABLE is not set", "biến môi trường IPFM_NO_SUCH_VARIABLE chưa được đặt", id="password-env"),
    C(station("dir: ../audio", "dir: ../nowhere"), "nowhere does not exist", "nowhere không tồn tại", id="audio-dir"),
    C(station("dir: ../audio", "dir: ipfm.yaml"), "ipfm.yaml is a file, not a folder", "ipfm.yaml là một tệp, không phải thư mục", id="audio-dir-file"),
    C(station("base_url: http://127.0.0.1:8079/audio", "base_url: ftp://h/audio"), "is not a web address", "không phải là địa chỉ web", id="base-url"),
    C(station("base_url: http://127.0.0.1:8079/audio", "base_url: http://127.0.0.1:8079/audio\n  sample_rate: 44000"), "44000 Hz is not a sample rate MP3 supports", "44000 Hz không phải là tần số lấy mẫu MP3 hỗ trợ", id="sample-rate"),
    C(station("base_url: http://127.0.0.1:8079/audio", "base_url: http://127.0.0.1:8079/audio\n  loudness_lufs: loud"), '"loud" is not a number from -40 to -5', '"loud" không phải là một số từ -40 đến -5', id="decimal"),
    C(station("base_url: http://127.0.0.1:8079/audio", "base_url: http://127.0.0.1:8079/audio\n  max_input_bytes: 0"), "0 is out of range: expected a whole number, 1 or more", "0 nằm ngoài phạm vi: cần một số nguyên, từ 1 trở lên", id="number-at-least"),
    C(station("listen: 127.0.0.1:8079", "listen: localhost"), "is not an address to listen on", "không phải là địa chỉ để lắng nghe", id="listen"),
    C(station_append("signing:\n  key_env: IPFM_KEY\n"), 'the key "kid" is missing (the key\'s name)', 'thiếu khóa "kid" (tên của khóa)', id="kid-missing"),
    C(station_append("signing:\n  kid: k1\n"), 'needs "key_file" or "key_env": where the key is', 'cần "key_file" hoặc "key_env": nơi chứa khóa', id="key-missing"),
    C(station_append("signing:\n  kid: k1\n  key_file: short.txt\n"), "the key is only 5 bytes long: use at least 16", "khóa chỉ dài 5 byte: dùng ít nhất 16", id="key-short"),
    C(station_append("signing:\n  kid: k1\n  key_file: empty.txt\n"), "empty.txt is empty", "empty.txt đang trống", id="key-empty"),
    C(station_append('signing:\n  kid: "k 1"\n  key_file: key.txt\n'), "is not a valid key id (kid)", "không phải là mã khóa (kid) hợp lệ", id="kid"),
    C(station_append("signing:\n  wards:\n    cam-trunk: {kid: k2, key_file: key.txt}\n"), '"cam-trunk" is not a ward of this station (did you mean "cam-trung"?)', '"cam-trunk" không phải là phường của đài này (có phải ý bạn là "cam-trung"?)', id="signing-ward"),
    C(station_append("signing:\n  wards:\n    cam-trung: {kid: a, key_file: key.txt}\n    cam-trung: {kid: b, key_file: key.txt}\n" ), '"cam-trung" appears twice (first on line', '"cam-trung" xuất hiện hai lần (lần đầu ở dòng', id="map-twice"),
    C(station(KH179_AUDIO, "    audio: nope.mp3"), '"nope.mp3" is not in the audio folder', '"nope.mp3" không có trong thư mục âm thanh', id="audio-missing"),
    C(station(KH179_AUDIO, "    audio: source/kh179.mp3"), "is not a file name: name a file of the audio folder", "không phải là tên tệp", id="audio-folder"),
    C(_wav, '"kh179.wav" is not an MP3 file', '"kh179.wav" không phải là tệp MP3', id="audio-not-mp3"),
    C(_mp3_named_wrongly, "no longer holds the recording its name says", "không còn chứa bản ghi âm như tên của nó cho biết", id="audio-changed"),
    C(station("until: null", "until: 2022-01-01"), "the campaign ends (2022-01-01) before it starts (2022-07-04, from)", "đợt tuyên truyền kết thúc (01/01/2022) trước khi bắt đầu (04/07/2022, from)", id="campaign-order"),
    C(station("min_per_week: 1", "min_per_week:"), "is empty; expected a whole number from 0 to 100: write how many airings", "đang trống; cần một số nguyên từ 0 đến 100: ghi số lượt phát", id="if-empty"),
    C(station("wards: wards/", "wards: nowhere/"), "nowhere does not exist", "nowhere không tồn tại", id="wards-folder"),
    C(ward_text("", "../ipfm.yaml"), "the station file is empty (see docs/configuration.md)", "tệp cấu hình đài đang trống (xem docs/configuration.md)", id="station-empty"),
]
# fmt: on


@pytest.mark.parametrize(("setup", "english", "vietnamese"), CASES)
def test_every_kind_of_validate_problem_in_vietnamese_and_english(
    small: Station,
    capsys: pytest.CaptureFixture[str],
    setup: Setup,
    english: str,
    vietnamese: str,
) -> None:
    setup(small)
    config = ("--config", str(small.path), "validate")
    json_en = run(capsys, "--lang", "en", *config, "--format", "json")
    json_vi = run(capsys, "--lang", "vi", *config, "--format", "json")
    assert json_vi.out == json_en.out  # byte for byte: tools read it
    assert json_vi.code == json_en.code == 3
    en = run(capsys, "--lang", "en", *config)
    vi = run(capsys, "--lang", "vi", *config)
    assert english in en.out
    assert vietnamese in vi.out, vi.out
    assert english not in vi.out
    problems = problems_of(json_en.out)
    assert_translated(en, vi, problems)
    count = len(problems)
    assert en.err == (
        f"ipfm-scheduler: the configuration is not valid ({count} problem{'s' * (count != 1)})\n"
    )
    assert f"cấu hình không hợp lệ ({count} lỗi)" in vi.err

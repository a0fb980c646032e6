"""Vietnamese text normalisation for speech: what a police announcement writes, as it is read.

`normalize("Lúc 21:30 ngày 01/12/2026, CA xã nhận tin báo tại số 12/3 ...")` gives
"Lúc hai mươi mốt giờ ba mươi phút ngày một tháng mười hai năm hai nghìn không trăm hai mươi
sáu, Công an xã nhận tin báo tại số mười hai xuyệt ba ...".

A speech synthesiser reads digits and capitals literally (espeak-ng spells "UBND" letter by letter
and reads "1.500.000" as three numbers), so before synthesis this module rewrites, in order:

1. abbreviations of administration and police work ("UBND", "CA xã", "ANTT", "TP.", "đ/c", "SN");
2. vehicle plates ("29A-123.45": read character by character) and phone numbers ("0912 345 678",
   hotlines "113"): digit by digit;
3. dates ("01/12/2026", "1-12-2026", "01/12", "12/2026") and, after address words ("số", "ngõ",
   "hẻm", ...), house numbers with a slash ("số 12/3": "mười hai xuyệt ba");
4. ranges between numbers ("7-9 giờ": "bảy đến chín giờ");
5. times ("21:30", "21h30", "21g30", "21h", "07:05:10");
6. units and currency after a number ("km/h", "km", "kg", "%", "°C", "đ", "VNĐ");
7. numbers: thousands separated by dots ("1.500.000"), decimals with a comma ("2,5"), ordinals
   after "thứ" ("thứ 1": "thứ nhất", "thứ 4": "thứ tư"), and plain integers.

Numbers are read the Northern way by default ("nghìn", "linh"); `region="south"` reads "ngàn" and
"lẻ". Pure Python (`re`), no Home Assistant, no I/O: safe to call from any thread.
"""

from __future__ import annotations

import re
from typing import Final

DIGITS: Final = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
MONTHS: Final = (
    "",
    "một",
    "hai",
    "ba",
    "tư",
    "năm",
    "sáu",
    "bảy",
    "tám",
    "chín",
    "mười",
    "mười một",
    "mười hai",
)
MAX_READ_AS_NUMBER: Final = 10**15  # longer digit strings are read digit by digit

# Whole-word abbreviations (case-sensitive: "CA" is the police, "ca" a work shift).
ABBREVIATIONS: Final[dict[str, str]] = {
    "UBND": "Ủy ban nhân dân",
    "HĐND": "Hội đồng nhân dân",
    "MTTQ": "Mặt trận Tổ quốc",
    "CAND": "Công an nhân dân",
    "CAX": "Công an xã",
    "CAP": "Công an phường",
    "CA": "Công an",
    "CSGT": "Cảnh sát giao thông",
    "CSKV": "Cảnh sát khu vực",
    "CSCĐ": "Cảnh sát cơ động",
    "ANTT": "an ninh trật tự",
    "TTATGT": "trật tự an toàn giao thông",
    "ATGT": "an toàn giao thông",
    "TNGT": "tai nạn giao thông",
    "PCCC": "phòng cháy chữa cháy",
    "CNCH": "cứu nạn cứu hộ",
    "PCCC&CNCH": "phòng cháy chữa cháy và cứu nạn cứu hộ",
    "BCH": "Ban chỉ huy",
    "QS": "quân sự",
    "TYT": "trạm y tế",
    "THCS": "trung học cơ sở",
    "THPT": "trung học phổ thông",
    "TDP": "tổ dân phố",
    "KDC": "khu dân cư",
    "KCN": "khu công nghiệp",
    "QL": "quốc lộ",
    "TL": "tỉnh lộ",
    "BKS": "biển kiểm soát",
    "CCCD": "căn cước công dân",
    "CMND": "chứng minh nhân dân",
    "SĐT": "số điện thoại",
    "ĐT": "điện thoại",
    "SN": "sinh năm",
    "VKS": "Viện kiểm sát",
    "TAND": "Tòa án nhân dân",
    "VN": "Việt Nam",
    "HN": "Hà Nội",
    "TPHCM": "Thành phố Hồ Chí Minh",
    "HCM": "Hồ Chí Minh",
}
# Abbreviations ending in a dot, or with a slash: matched before the whole words above.
DOTTED: Final[dict[str, str]] = {
    "TP.": "thành phố",
    "Tp.": "thành phố",
    "TX.": "thị xã",
    "TT.": "thị trấn",
    "v.v.": "vân vân",
    "Đ/c": "Đồng chí",
    "đ/c": "đồng chí",
    "Đ/C": "Đồng chí",
}
# Only before a number or a capitalised name ("Q.1", "P. Đông Hải"), so that a sentence ending
# in a capital letter is not read as "quận".
DOTTED_BEFORE_NAME: Final[dict[str, str]] = {
    "Q.": "quận",
    "P.": "phường",
    "H.": "huyện",
    "X.": "xã",
}
# Words after which "12/3" is a house or alley number, not a date.
ADDRESS_WORDS: Final = ("số", "nhà", "ngõ", "ngách", "hẻm", "kiệt", "hẽm", "lô", "phòng", "căn")
UNITS: Final[dict[str, str]] = {
    "km/h": "ki lô mét trên giờ",
    "km²": "ki lô mét vuông",
    "m²": "mét vuông",
    "m2": "mét vuông",
    "km": "ki lô mét",
    "kg": "ki lô gam",
    "cm": "xen ti mét",
    "mm": "mi li mét",
    "ha": "héc ta",
    "m": "mét",
    "tấn": "tấn",
    "%": "phần trăm",
    "°C": "độ C",
    "VNĐ": "đồng",
    "VND": "đồng",
    "đ": "đồng",
    "USD": "đô la Mỹ",
}

_WORD = r"(?<![\w.])"  # start of a word (not inside another word or a dotted number)
_END = r"(?![\w])"
_ABBR_RE: Final = re.compile(
    _WORD
    + "("
    + "|".join(re.escape(k) for k in sorted(ABBREVIATIONS, key=len, reverse=True))
    + ")"
    + _END
)
_DOTTED_RE: Final = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(k) for k in sorted(DOTTED, key=len, reverse=True)) + ")"
)
_BEFORE_NAME_RE: Final = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(k) for k in DOTTED_BEFORE_NAME) + r")(?=\s*[\dA-ZĐÀ-Ỹ])"
)
_PLATE_RE: Final = re.compile(r"(?<![\w.])(\d{2})([A-ZĐ]{1,2}\d?)[- ]?(\d{3})\.?(\d{2})(?![\w.])")
_PHONE_RE: Final = re.compile(
    r"(?<![\w.,])(?:\+84[\s.]?|0)\d{2,3}(?:[\s.]?\d{3}){2}\d?(?!\w|[.,]\d)|(?<![\w.,])11[345](?!\w)"
)
_DATE_RE: Final = re.compile(
    r"(?<![\w.,/])(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?![\w/])"
    r"|(?<![\w.,/])(\d{1,2})/(\d{1,2})(?![\w/]|\.\d)"
    r"|(?<![\w.,/])(\d{1,2})/(\d{4})(?![\w/])"
)
_RANGE_RE: Final = re.compile(r"(?:(?<=\d)|(?<=\d[hg]))\s*[-–]\s*(?=\d)")
_TIME_RE: Final = re.compile(
    r"(?<![\w.,:])([01]?\d|2[0-3])(?::([0-5]\d)(?::([0-5]\d))?|[hg]([0-5]\d)?)(?![\w:])"
)
_UNIT_RE: Final = re.compile(
    r"(?<=\d)\s?("
    + "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
    + r")(?![\w²])"
)
_NUMBER_RE: Final = re.compile(
    r"(?<![\w])(\d+)\.(\d{1,2}|\d{4,})(?![\w.])"
    r"|(?<![\w])(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d+))?(?![\w])"
)
_ORDINAL_RE: Final = re.compile(r"\b([Tt]hứ)\s+([14])(?!\w|[.,]\d)")
_SPACES_RE: Final = re.compile(r"[ \t]+")


def read_number(value: int, *, region: str = "north") -> str:
    """An integer in Vietnamese words: 21 "hai mươi mốt", 105 "một trăm linh năm"."""
    if value < 0:
        return "âm " + read_number(-value, region=region)
    if value == 0:
        return DIGITS[0]
    if value >= MAX_READ_AS_NUMBER:
        return read_digits(str(value))
    thousand = "ngàn" if region == "south" else "nghìn"
    scales = ("", thousand, "triệu", "tỷ", thousand + " tỷ")
    groups: list[int] = []
    while value:
        value, group = divmod(value, 1000)
        groups.append(group)
    words: list[str] = []
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            continue
        leading = index == len(groups) - 1
        words.append(_read_group(group, full=not leading, region=region))
        if scales[index]:
            words.append(scales[index])
    return " ".join(words)


def _read_group(group: int, *, full: bool, region: str) -> str:
    """Three digits; `full` reads a zero hundreds ("không trăm") inside a bigger number."""
    hundreds, rest = divmod(group, 100)
    tens, units = divmod(rest, 10)
    words: list[str] = []
    if hundreds or full:
        words += [DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units and words:
            words += ["lẻ" if region == "south" else "linh", DIGITS[units]]
        elif units:
            words.append(DIGITS[units])
    elif tens == 1:
        words.append("mười")
        if units:
            words.append("lăm" if units == 5 else DIGITS[units])
    else:
        words += [DIGITS[tens], "mươi"]
        if units:
            words.append({1: "mốt", 4: "tư", 5: "lăm"}.get(units, DIGITS[units]))
    return " ".join(words)


def read_digits(text: str) -> str:
    """Each digit on its own ("113": "một một ba"); letters kept, other characters dropped."""
    return " ".join(DIGITS[int(c)] if c.isdigit() else c for c in text if c.isalnum())


def _read_decimal(integer: str, fraction: str, region: str) -> str:
    zeros = len(fraction) - len(fraction.lstrip("0"))
    tail = fraction.lstrip("0")
    parts = [read_number(int(integer), region=region), "phẩy"]
    parts += [DIGITS[0]] * zeros
    if tail:
        parts.append(read_number(int(tail), region=region))
    return " ".join(parts)


def read_date(day: int | None, month: int, year: int | None, *, region: str = "north") -> str:
    """ "ngày một tháng mười hai năm hai nghìn không trăm hai mươi sáu"."""
    words: list[str] = []
    if day is not None:
        words += ["ngày", read_number(day, region=region)]
    words += ["tháng", MONTHS[month]]
    if year is not None:
        words += ["năm", read_number(year, region=region)]
    return " ".join(words)


def read_time(hours: int, minutes: int | None = None, seconds: int | None = None) -> str:
    """ "hai mươi mốt giờ ba mươi phút"; no minutes: "hai mươi mốt giờ"."""
    words = [read_number(hours), "giờ"]
    if minutes:
        words += [read_number(minutes), "phút"]
    if seconds:
        words += [read_number(seconds), "giây"]
    return " ".join(words)


def _drop_repeated(text: str, start: int, word: str) -> bool:
    """Whether the text just before `start` already ends with `word` ("ngày 01/12")."""
    return text[:start].rstrip().lower().endswith(word)


def _valid_date(day: int, month: int) -> bool:
    return 1 <= day <= 31 and 1 <= month <= 12


def normalize(text: str, *, region: str = "north") -> str:
    """Text as it should be read aloud (see the module's docstring for what is rewritten)."""
    text = text.replace("\u00a0", " ").replace("\u2009", " ")
    text = text.replace("&", " và ").replace("PCCC và CNCH", "PCCC&CNCH")

    text = _DOTTED_RE.sub(lambda m: DOTTED[m.group(1)] + " ", text)
    text = _BEFORE_NAME_RE.sub(lambda m: DOTTED_BEFORE_NAME[m.group(1)] + " ", text)
    text = _ABBR_RE.sub(lambda m: ABBREVIATIONS[m.group(1)], text)

    def plate(m: re.Match[str]) -> str:
        series = " ".join(read_digits(c) if c.isdigit() else c for c in m.group(2))
        return (
            f"{read_digits(m.group(1))} {series}, {read_digits(m.group(3))} "
            f"{read_digits(m.group(4))}"
        )

    text = _PLATE_RE.sub(plate, text)

    def phone(m: re.Match[str]) -> str:
        if len(m.group(0)) == 3 and m.string[: m.start()].rstrip().lower().endswith(ADDRESS_WORDS):
            return m.group(0)  # "số 113" is a house number, not the police hotline
        return read_digits(m.group(0).replace("+84", "0"))

    text = _PHONE_RE.sub(phone, text)

    def date(m: re.Match[str]) -> str:
        source = m.string
        if m.group(1) is not None:  # day, month and year
            day, month, year = int(m.group(1)), int(m.group(3)), int(m.group(4))
            if not _valid_date(day, month):
                return m.group(0)
            spoken = read_date(day, month, year, region=region)
        elif m.group(5) is not None:  # "12/3": a date, or a house number after "số"
            first, second = int(m.group(5)), int(m.group(6))
            before = source[: m.start()].rstrip().lower()
            if before.endswith(ADDRESS_WORDS) or not _valid_date(first, second):
                number, after = (
                    read_number(first, region=region),
                    read_number(second, region=region),
                )
                return f"{number} xuyệt {after}"
            spoken = read_date(first, second, None, region=region)
        else:  # "12/2026"
            month, year = int(m.group(7)), int(m.group(8))
            if not 1 <= month <= 12:
                return m.group(0)
            spoken = read_date(None, month, year, region=region)
        for word in ("ngày", "tháng"):
            if spoken.startswith(word + " ") and _drop_repeated(source, m.start(), word):
                return spoken[len(word) + 1 :]
        return spoken

    text = _DATE_RE.sub(date, text)
    text = _RANGE_RE.sub(" đến ", text)

    def time(m: re.Match[str]) -> str:
        hours = int(m.group(1))
        minutes = m.group(2) or m.group(4)
        seconds = m.group(3)
        return read_time(
            hours, int(minutes) if minutes else None, int(seconds) if seconds else None
        )

    text = _TIME_RE.sub(time, text)
    text = _UNIT_RE.sub(lambda m: " " + UNITS[m.group(1)], text)
    text = _ORDINAL_RE.sub(lambda m: f"{m.group(1)} {'nhất' if m.group(2) == '1' else 'tư'}", text)

    def number(m: re.Match[str]) -> str:
        if m.group(1) is not None:  # "2.5": a decimal written with a dot
            return _read_decimal(m.group(1), m.group(2), region)
        integer = m.group(3).replace(".", "")
        if m.group(4) is not None:
            return _read_decimal(integer, m.group(4), region)
        if len(integer) > 1 and integer.startswith("0"):
            return read_digits(integer)  # "05", codes: digit by digit
        return read_number(int(integer), region=region)

    text = _NUMBER_RE.sub(number, text)
    return _SPACES_RE.sub(" ", text).strip()

"""Vietnamese normalisation: what police announcements write, as it must be read aloud."""

from __future__ import annotations

import pytest

from custom_components.anninh.engine.vi_text import normalize, read_number

CASES: list[tuple[str, str]] = [
    # times
    ("lúc 21:30", "lúc hai mươi mốt giờ ba mươi phút"),
    ("lúc 21h30", "lúc hai mươi mốt giờ ba mươi phút"),
    ("lúc 21g30", "lúc hai mươi mốt giờ ba mươi phút"),
    ("lúc 7h", "lúc bảy giờ"),
    ("lúc 07:05:10", "lúc bảy giờ năm phút mười giây"),
    ("lúc 8:00", "lúc tám giờ"),
    ("từ 7h-9h", "từ bảy giờ đến chín giờ"),
    ("từ 21:30 - 22:15", "từ hai mươi mốt giờ ba mươi phút đến hai mươi hai giờ mười lăm phút"),
    # dates
    (
        "01/12/2026",
        "ngày một tháng mười hai năm hai nghìn không trăm hai mươi sáu",
    ),
    (
        "ngày 01/12/2026",
        "ngày một tháng mười hai năm hai nghìn không trăm hai mươi sáu",
    ),
    ("1-4-2025", "ngày một tháng tư năm hai nghìn không trăm hai mươi lăm"),
    ("ngày 5/4", "ngày năm tháng tư"),
    ("tháng 12/2026", "tháng mười hai năm hai nghìn không trăm hai mươi sáu"),
    ("31/13/2026", "ba mươi mốt/mười ba/hai nghìn không trăm hai mươi sáu"),
    # numbers, money, thousands separators
    ("1.500.000 đồng", "một triệu năm trăm nghìn đồng"),
    ("50.000đ", "năm mươi nghìn đồng"),
    ("2.000.000 VNĐ", "hai triệu đồng"),
    ("1.000.005", "một triệu không trăm linh năm"),
    ("105 người", "một trăm linh năm người"),
    ("21 hộ, 15 hộ, 10 hộ, 24 hộ", "hai mươi mốt hộ, mười lăm hộ, mười hộ, hai mươi tư hộ"),
    ("1.000.000.000", "một tỷ"),
    ("2,5 km", "hai phẩy năm ki lô mét"),
    ("2,05", "hai phẩy không năm"),
    ("lãi 12%", "lãi mười hai phần trăm"),
    ("đi 60km/h", "đi sáu mươi ki lô mét trên giờ"),
    ("năm 2026.", "năm hai nghìn không trăm hai mươi sáu."),
    ("lần thứ 1, thứ 4", "lần thứ nhất, thứ tư"),
    # house and alley numbers
    ("số 12", "số mười hai"),
    ("số 12/3 Trần Phú", "số mười hai xuyệt ba Trần Phú"),
    ("ngõ 45/12", "ngõ bốn mươi lăm xuyệt mười hai"),
    ("số 113 phố Huế", "số một trăm mười ba phố Huế"),
    # phones, hotlines, plates
    ("gọi 113", "gọi một một ba"),
    ("SĐT 0912 345 678", "số điện thoại không chín một hai ba bốn năm sáu bảy tám"),
    ("0912345678", "không chín một hai ba bốn năm sáu bảy tám"),
    ("xe BKS 29A-123.45", "xe biển kiểm soát hai chín A, một hai ba bốn năm"),
    # abbreviations
    ("UBND xã", "Ủy ban nhân dân xã"),
    ("CA xã Ngũ Đoan", "Công an xã Ngũ Đoan"),
    ("giữ gìn ANTT", "giữ gìn an ninh trật tự"),
    ("TP. Hải Phòng", "thành phố Hải Phòng"),
    ("TP.HCM", "thành phố Hồ Chí Minh"),
    ("P. Đông Hải, Q.1", "phường Đông Hải, quận một"),
    ("Đ/c Hùng, SN 1990", "Đồng chí Hùng, sinh năm một nghìn chín trăm chín mươi"),
    ("CSGT và PCCC", "Cảnh sát giao thông và phòng cháy chữa cháy"),
    ("HĐND, MTTQ", "Hội đồng nhân dân, Mặt trận Tổ quốc"),
    ("v.v.", "vân vân"),
    # what must stay as it is
    ("ca trực đêm", "ca trực đêm"),
    ("Đề nghị bà con giữ bình tĩnh.", "Đề nghị bà con giữ bình tĩnh."),
    ("ông A.", "ông A."),
]


@pytest.mark.parametrize(("text", "spoken"), CASES)
def test_normalize(text: str, spoken: str) -> None:
    """Each written form is read as a Vietnamese speaker reads it."""
    assert normalize(text) == spoken


@pytest.mark.parametrize(
    ("value", "north", "south"),
    [
        (0, "không", "không"),
        (5, "năm", "năm"),
        (105, "một trăm linh năm", "một trăm lẻ năm"),
        (1000, "một nghìn", "một ngàn"),
        (2026, "hai nghìn không trăm hai mươi sáu", "hai ngàn không trăm hai mươi sáu"),
        (1_500_000, "một triệu năm trăm nghìn", "một triệu năm trăm ngàn"),
        (-3, "âm ba", "âm ba"),
    ],
)
def test_read_number_regions(value: int, north: str, south: str) -> None:
    """Northern "nghìn"/"linh", Southern "ngàn"/"lẻ"."""
    assert read_number(value) == north
    assert read_number(value, region="south") == south


def test_a_whole_announcement() -> None:
    """A realistic message: nothing is left that espeak-ng would spell out or misread."""
    text = (
        "CA xã Ngũ Đoan thông báo: lúc 21:30 ngày 01/12/2026 tại số 12/3 thôn 3 xảy ra vụ trộm "
        "xe BKS 29A-123.45, thiệt hại 15.000.000đ. Ai có thông tin gọi 113 hoặc 0912 345 678."
    )
    spoken = normalize(text)
    assert not any(c.isdigit() for c in spoken)
    assert "Công an xã" in spoken
    assert "mười lăm triệu đồng" in spoken

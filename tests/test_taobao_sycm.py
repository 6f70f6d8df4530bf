"""生意参谋 export files: encodings, title rows, '%' and separators, XLSX, the folder's state."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import xlsxwriter

from sources.taobao.errors import SycmFileError
from sources.taobao.folder import ExportFolder
from sources.taobao.sycm import parse_export
from sources.taobao.tables import HEADERS, SOURCES

TITLE = "生意参谋 流量来源"
HEADER = "日期,小时,流量来源,访客数,浏览量,跳失率,加购人数,商品收藏人数"
ROWS = [
    '2026-11-10,9,手淘搜索,"1,234","3,100",41.26%,120,55',
    "2026-11-10,10,直通车,412,900,40.29%,30,12",
]


def csv_text(*lines: str) -> str:
    return "\r\n".join(lines) + "\r\n"


def write(path: Path, text: str, encoding: str, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


def parse(path: Path) -> list[dict]:
    table = parse_export(path, HEADERS, SOURCES)
    assert table.dataset == "traffic"
    return table.records


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", True), ("utf-8", False), ("gbk", False)])
def test_csv_with_title_rows_separators_and_percentages(
    tmp_path: Path, encoding: str, bom: bool
) -> None:
    text = csv_text(TITLE, "统计时间：2026-11-10 ~ 2026-11-10", "", HEADER, *ROWS)
    first, second = parse(write(tmp_path / "t.csv", text, encoding, bom))
    assert first == {
        "hour": "2026-11-10T09:00:00+08:00",
        "source": "search",
        "sku_id": "shop",
        "visitors": 1234,
        "page_views": 3100,
        "bounces": 509,  # 41.26% of 1,234
        "add_to_cart": 120,
        "favorites": 55,
        "sycm_source": "手淘搜索",
        "bounce_rate": pytest.approx(0.4126),
        "grain": "hour",
    }
    assert second["source"] == "ads" and second["bounces"] == 166


def test_xlsx_read_through_calamine(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, [TITLE])
    sheet.write_row(1, 0, ["统计时间：2026-11-10 ~ 2026-11-10"])
    sheet.write_row(3, 0, HEADER.split(","))
    # numbers as Excel numbers, a rate as a fraction, another as text with '%'
    sheet.write_row(4, 0, ["2026-11-10", 9, "手淘搜索", 1234, 3100, 0.4126, 120, 55])
    sheet.write_row(5, 0, ["2026-11-10", 10, "直通车", "412", "900", "40.29%", 30, 12])
    book.close()
    first, second = parse(path)
    assert (first["visitors"], first["bounces"], first["hour"]) == (
        1234,
        509,
        "2026-11-10T09:00:00+08:00",
    )
    assert (second["visitors"], second["bounces"]) == (412, 166)


def test_a_daily_export_takes_its_date_from_the_title_rows(tmp_path: Path) -> None:
    text = csv_text(
        TITLE,
        "统计日期：2026-11-10",
        "流量来源,访客数,浏览量,跳失率,加购人数,商品收藏人数",
        "手淘推荐,800,1600,50.00%,40,20",
    )
    (record,) = parse(write(tmp_path / "d.csv", text, "utf-8"))
    assert record["hour"] == "2026-11-10T00:00:00+08:00" and record["grain"] == "day"
    assert (record["source"], record["bounces"]) == ("recommend", 400)


def test_keywords_export(tmp_path: Path) -> None:
    text = csv_text(
        "生意参谋 搜索词",
        "日期,小时,搜索词,展现量,点击量,访客数,支付买家数,支付金额",
        '2026-11-10,20,收纳盒,"52,000","2,100","1,900",61,"5,490.50"',
    )
    table = parse_export(write(tmp_path / "k.csv", text, "gbk"), HEADERS, SOURCES)
    (record,) = table.records
    assert table.dataset == "keywords"
    assert record == {
        "hour": "2026-11-10T20:00:00+08:00",
        "keyword": "收纳盒",
        "impressions": 52000,
        "clicks": 2100,
        "visitors": 1900,
        "buyers": 61,
        "pay_amount": 5490.5,
        "grain": "hour",
    }


def test_users_extend_the_header_table(tmp_path: Path) -> None:
    text = csv_text(
        "日期,小时,流量来源,访客数(UV),浏览量,跳失率,加购人数,商品收藏人数",
        "2026-11-10,9,手淘首页,10,20,10%,1,1",
    )
    path = write(tmp_path / "x.csv", text, "utf-8")
    with pytest.raises(SycmFileError, match="lacks the columns 访客数"):
        parse(path)
    headers = {**HEADERS, "访客数(UV)": "visitors"}
    (record,) = parse_export(path, headers, {**SOURCES, "手淘首页": "recommend"}).records
    assert (record["visitors"], record["source"]) == (10, "recommend")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (csv_text("完全不相关,的表格", "1,2"), "no header row"),
        (csv_text(HEADER, "2026-11-10,9,手淘搜索,很多,1,1%,1,1"), "cannot be read"),
        (csv_text(HEADER, "2026-11-10,99,手淘搜索,1,1,1%,1,1"), "not an hour"),
    ],
)
def test_unreadable_files_say_why(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(SycmFileError, match=reason):
        parse(write(tmp_path / "bad.csv", text, "utf-8"))


def test_the_folder_reads_each_content_once_and_quarantines_the_unreadable(
    tmp_path: Path,
) -> None:
    root = tmp_path / "sycm"
    (root / "traffic").mkdir(parents=True)
    good = csv_text(HEADER, *ROWS)
    write(root / "traffic" / "a.csv", good, "gbk")
    write(root / "traffic" / "a (1).csv", good, "gbk")  # the same export downloaded twice
    write(root / "traffic" / "broken.csv", csv_text(HEADER, "x,y"), "utf-8")
    folder = ExportFolder(root, HEADERS, SOURCES)
    pages = list(folder.pages("traffic"))
    assert len(pages) == 1
    assert len(pages[0].path.read_bytes().splitlines()) == 2
    rows = [orjson.loads(line) for line in pages[0].path.read_bytes().splitlines()]
    assert rows[0]["visitors"] == 1234
    # the broken file moved aside with its reason; the others were still read
    assert not (root / "traffic" / "broken.csv").exists()
    reason = (root / "quarantine" / "traffic" / "broken.csv.reason.txt").read_text("utf-8")
    assert "rows without a source" in reason and folder.quarantined
    manifest = orjson.loads((root / ".shoppulse" / "manifest.json").read_bytes())
    assert [e["file"] for e in manifest.values()] == ["traffic/a.csv"]
    # a second run reads nothing again
    before = pages[0].path.stat().st_mtime_ns
    assert [p.path for p in ExportFolder(root, HEADERS, SOURCES).pages("traffic")] == [
        pages[0].path
    ]
    assert pages[0].path.stat().st_mtime_ns == before


def test_a_reception_detail_export_becomes_service_chats(tmp_path: Path) -> None:
    text = csv_text(
        "千牛 接待中心 客服接待明细",
        "统计时间：2026-11-10 ~ 2026-11-10",
        "会话ID,买家,咨询时间,首次响应时间,接待客服,是否解决,咨询商品编码",
        "C1,U001,2026-11-10 09:00:05,2026-11-10 09:00:07,店小蜜,是,SKU1",
        "C2,U002,2026-11-10 09:01:00,2026-11-10 09:02:30,小美,否,",
        "C3,U003,2026-11-10 09:05:00,-,-,否,SKU2",
    )
    table = parse_export(write(tmp_path / "chats.csv", text, "gbk"), HEADERS, SOURCES)
    assert table.dataset == "service_chats"
    assert table.records == [
        {"chat_id": "C1", "buyer_id": "U001", "started_at": "2026-11-10T09:00:05+08:00",
         "first_response_at": "2026-11-10T09:00:07+08:00", "responder": "bot", "resolved": True,
         "sku_id": "SKU1", "updated_at": "2026-11-10T09:00:07+08:00"},
        {"chat_id": "C2", "buyer_id": "U002", "started_at": "2026-11-10T09:01:00+08:00",
         "first_response_at": "2026-11-10T09:02:30+08:00", "responder": "小美",
         "resolved": False, "sku_id": None, "updated_at": "2026-11-10T09:02:30+08:00"},
        {"chat_id": "C3", "buyer_id": "U003", "started_at": "2026-11-10T09:05:00+08:00",
         "first_response_at": None, "responder": None, "resolved": False, "sku_id": "SKU2",
         "updated_at": "2026-11-10T09:05:00+08:00"},
    ]  # fmt: skip
    broken = csv_text("买家,咨询时间,首次响应时间,接待客服", "U1,yesterday,-,-")
    with pytest.raises(SycmFileError, match="not a time"):
        parse_export(write(tmp_path / "bad.csv", broken, "utf-8"), HEADERS, SOURCES)

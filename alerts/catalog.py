"""Words the templates need in each locale: alert titles, severities, statuses, label names."""

from __future__ import annotations

__all__ = ["LOCALES", "alert_title", "label_name", "word"]

LOCALES = ("en", "zh-CN")

_ALERT_TITLES = {
    "en": {
        "conversion_drop": "Conversion drop",
        "low_stock_promo": "Low stock during promotion",
        "cancel_spike": "Cancellation spike",
        "data_gap": "Data gap",
        "promo_audit": "Promotion settings audit",
    },
    "zh-CN": {
        "conversion_drop": "支付转化率下降",
        "low_stock_promo": "活动商品库存不足",
        "cancel_spike": "取消率激增",
        "data_gap": "数据缺失",
        "promo_audit": "活动设置风险",
    },
}

_WORDS = {
    "en": {
        "critical": "CRITICAL",
        "warning": "WARNING",
        "info": "INFO",
        "firing": "FIRING",
        "resolved": "RESOLVED",
        "repeat": "still firing",
        "escalated": "escalated",
        "hours": "h",
    },
    "zh-CN": {
        "critical": "严重",
        "warning": "警告",
        "info": "提示",
        "firing": "告警",
        "resolved": "已恢复",
        "repeat": "持续中",
        "escalated": "已升级",
        "hours": "小时",
    },
}

_LABELS = {
    "en": {
        "source": "source",
        "sku_id": "SKU",
        "promo_id": "promotion",
        "dataset": "dataset",
        "keyword": "keyword",
        "metric": "metric",
    },
    "zh-CN": {
        "source": "来源",
        "sku_id": "商品",
        "promo_id": "活动",
        "dataset": "数据集",
        "keyword": "关键词",
        "metric": "指标",
    },
}


def alert_title(alertname: str, locale: str) -> str:
    """The human title of an alert; user threshold rules keep their configured name."""
    return _ALERT_TITLES.get(locale, _ALERT_TITLES["en"]).get(alertname, alertname)


def word(key: str, locale: str) -> str:
    return _WORDS.get(locale, _WORDS["en"]).get(key, key)


def label_name(label: str, locale: str) -> str:
    return _LABELS.get(locale, _LABELS["en"]).get(label, label)

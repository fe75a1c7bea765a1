"""Simulated traffic for the local label loop: varied prompts in four languages, a minority about databases.

A prompt is a template (a way of asking) filled with a topic (what it is about), sometimes with a polite
preface or a closing remark. Topics span everyday and technical subjects; `DATABASE_SHARE` of the prompts are
about databases, each such topic naming a term the simulated judge recognises (local/simulated_judge.py), so the
judge's rule ("database questions need the strong model") decides their labels.

Templates per language are split in two: the label loop draws from the TRAIN templates; evaluation on fresh
prompts draws from the HELD-OUT ones (with another seed), so a scorer that only memorised the loop's phrasings,
rather than the topic, gains nothing there. Topics are shared: the rule is about the topic.

Deterministic: `generate(n, seed=...)` gives the same prompts for the same arguments.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DATABASE_SHARE = 0.2
LANGUAGES = ("en", "es", "de", "ja")

# (train templates, held-out templates) per language; "{t}" is the topic.
TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        (
            "How do I get started with {t}?",
            "Can you explain {t} in simple terms?",
            "What are the most common mistakes with {t}?",
            "Give me three practical tips about {t}.",
            "I need help with {t}. Where should I begin?",
            "Write a short checklist for {t}.",
            "Why does {t} matter, and what should I watch out for?",
            "Compare two different approaches to {t} and recommend one.",
        ),
        (
            "Quick question about {t}: what would you recommend?",
            "My colleague asked me about {t}. What should I tell them?",
            "Summarise the key ideas behind {t} in a few sentences.",
            "What is the best way to troubleshoot {t}?",
        ),
    ),
    "es": (
        (
            "¿Cómo empiezo con {t}?",
            "¿Puedes explicarme {t} con palabras sencillas?",
            "¿Cuáles son los errores más comunes con {t}?",
            "Dame tres consejos prácticos sobre {t}.",
            "Necesito ayuda con {t}. ¿Por dónde empiezo?",
            "Escribe una lista breve de comprobación para {t}.",
        ),
        (
            "Una pregunta rápida sobre {t}: ¿qué me recomiendas?",
            "Resume las ideas clave de {t} en pocas frases.",
            "¿Cuál es la mejor manera de diagnosticar problemas con {t}?",
        ),
    ),
    "de": (
        (
            "Wie fange ich mit {t} an?",
            "Kannst du mir {t} einfach erklären?",
            "Was sind die häufigsten Fehler bei {t}?",
            "Gib mir drei praktische Tipps zu {t}.",
            "Ich brauche Hilfe bei {t}. Wo soll ich anfangen?",
            "Schreib eine kurze Checkliste für {t}.",
        ),
        (
            "Kurze Frage zu {t}: Was empfiehlst du?",
            "Fasse die wichtigsten Ideen zu {t} in wenigen Sätzen zusammen.",
            "Wie gehe ich am besten bei der Fehlersuche mit {t} vor?",
        ),
    ),
    "ja": (
        (
            "{t}を始めるにはどうすればいいですか？",
            "{t}について簡単に説明してください。",
            "{t}でよくある間違いは何ですか？",
            "{t}に関する実用的なヒントを三つ教えてください。",
            "{t}で困っています。何から始めればいいですか？",
            "{t}のための短いチェックリストを書いてください。",
        ),
        (
            "{t}について簡単な質問です。何がおすすめですか？",
            "{t}の要点を数文でまとめてください。",
            "{t}の問題を調べる一番良い方法は何ですか？",
        ),
    ),
}

TOPICS: dict[str, tuple[str, ...]] = {
    "en": (
        "baking sourdough bread",
        "a weekend trip to Lisbon",
        "growing tomatoes on a balcony",
        "a 10k running plan",
        "a monthly household budget",
        "Python list comprehensions",
        "a slow home Wi-Fi network",
        "the causes of the French Revolution",
        "solving quadratic equations",
        "writing a cover letter",
        "my cat's diet",
        "solar panels for a small house",
        "learning the guitar",
        "planning a birthday party",
        "noise-cancelling headphones",
        "a Kubernetes pod that keeps restarting",
        "unit tests for a React component",
        "negotiating a salary",
        "a regular expression for dates",
        "the theory of relativity",
        "composting kitchen waste",
        "a memory leak in a Java service",
    ),
    "es": (
        "hacer pan de masa madre",
        "un viaje de fin de semana a Lisboa",
        "cultivar tomates en el balcón",
        "un plan para correr 10 km",
        "el presupuesto familiar del mes",
        "las listas por comprensión en Python",
        "una red wifi lenta en casa",
        "las causas de la Revolución Francesa",
        "resolver ecuaciones cuadráticas",
        "escribir una carta de presentación",
        "la dieta de mi gato",
        "paneles solares para una casa pequeña",
        "aprender a tocar la guitarra",
        "un pod de Kubernetes que se reinicia",
    ),
    "de": (
        "Sauerteigbrot backen",
        "ein Wochenendausflug nach Lissabon",
        "Tomaten auf dem Balkon ziehen",
        "einen Trainingsplan für 10 km",
        "das monatliche Haushaltsbudget",
        "List Comprehensions in Python",
        "ein langsames WLAN zu Hause",
        "die Ursachen der Französischen Revolution",
        "quadratische Gleichungen lösen",
        "ein Bewerbungsschreiben",
        "das Futter meiner Katze",
        "Solaranlagen für ein kleines Haus",
        "Gitarre lernen",
        "einen Kubernetes-Pod, der ständig neu startet",
    ),
    "ja": (
        "サワードウパンの焼き方",
        "リスボンへの週末旅行",
        "ベランダでのトマト栽培",
        "10キロのランニング計画",
        "毎月の家計簿",
        "Pythonのリスト内包表記",
        "家の遅いWi-Fi",
        "フランス革命の原因",
        "二次方程式の解き方",
        "履歴書の書き方",
        "猫の食事",
        "小さな家の太陽光パネル",
        "ギターの練習",
        "再起動を繰り返すKubernetesのポッド",
    ),
}

DATABASE_TOPICS: dict[str, tuple[str, ...]] = {
    "en": (
        "a slow SQL query with three joins",
        "choosing a primary key for an orders table",
        "a PostgreSQL index that is never used",
        "a MySQL replication lag",
        "a database schema migration",
        "transaction isolation levels in a database",
        "a foreign key constraint that blocks deletes",
        "SQLite locking under concurrent writes",
        "sharding a database by customer",
        "the query planner choosing a sequential scan",
        "a DynamoDB partition key design",
        "MongoDB indexes for a search page",
    ),
    "es": (
        "una consulta SQL lenta con tres uniones",
        "elegir la clave primaria de una tabla de pedidos",
        "un índice de PostgreSQL que nunca se usa",
        "migrar el esquema de una base de datos",
        "una clave foránea que impide borrar filas",
        "los niveles de aislamiento de una base de datos",
    ),
    "de": (
        "eine langsame SQL-Abfrage mit drei Joins",
        "den Primärschlüssel einer Bestelltabelle",
        "einen PostgreSQL-Index, der nie benutzt wird",
        "eine Migration des Datenbankschemas in der Datenbank",
        "einen Fremdschlüssel, der das Löschen blockiert",
        "die Isolationsstufen einer Datenbank",
    ),
    "ja": (
        "三つの結合がある遅いSQLクエリ",
        "注文テーブルの主キーの選び方",
        "使われないPostgreSQLのインデックス",
        "データベースのスキーマ移行",
        "削除を妨げる外部キー制約",
        "データベースのトランザクション分離レベル",
    ),
}

PREFACES: dict[str, tuple[str, ...]] = {
    "en": ("Hi!", "I've been stuck on this all week.", "This is for a project at work.", "Sorry if this is basic."),
    "es": ("¡Hola!", "Llevo toda la semana con esto.", "Es para un proyecto del trabajo."),
    "de": ("Hallo!", "Ich hänge seit einer Woche daran.", "Das ist für ein Projekt bei der Arbeit."),
    "ja": ("こんにちは。", "一週間ずっと悩んでいます。", "仕事のプロジェクトのためです。"),
}
CLOSINGS: dict[str, tuple[str, ...]] = {
    "en": ("Thanks in advance.", "Please keep it short.", "A step-by-step answer would help."),
    "es": ("Gracias de antemano.", "Por favor, sé breve."),
    "de": ("Danke im Voraus.", "Bitte kurz halten."),
    "ja": ("よろしくお願いします。", "短く答えてください。"),
}


@dataclass(frozen=True, slots=True)
class SimulatedPrompt:
    text: str
    language: str
    about_databases: bool
    template: int  # index into the language's template set (train or held-out)


def generate(
    n: int, *, seed: int = 0, held_out: bool = False, database_share: float = DATABASE_SHARE
) -> list[SimulatedPrompt]:
    """`n` prompts; languages weighted en 40%, es/de/ja 20% each."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        lang = rng.choices(LANGUAGES, weights=(2, 1, 1, 1))[0]
        templates = TEMPLATES[lang][1 if held_out else 0]
        k = rng.randrange(len(templates))
        about_db = rng.random() < database_share
        topic = rng.choice(DATABASE_TOPICS[lang] if about_db else TOPICS[lang])
        text = templates[k].format(t=topic)
        if lang != "ja" and text[0].islower():
            text = text[0].upper() + text[1:]
        sep = "" if lang == "ja" else " "
        if rng.random() < 0.3:
            text = rng.choice(PREFACES[lang]) + sep + text
        if rng.random() < 0.3:
            text = text + sep + rng.choice(CLOSINGS[lang])
        out.append(SimulatedPrompt(text, lang, about_db, k))
    return out

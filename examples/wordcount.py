"""A taskbus app of one task type: count the words of a text.

taskbus worker examples.wordcount:app      # from the repository's root, beside `make up`
taskbus submit word_count -p text="the cat and the hat" --follow
"""

import re
from collections import Counter

import taskbus
from pydantic import BaseModel, Field

app = taskbus.TaskApp("text")


class WordCountIn(BaseModel):
    text: str = Field(max_length=1_000_000, description="The text whose words are counted.")
    top: int = Field(5, ge=1, le=100, description="How many of the commonest words to list.")


class WordCount(BaseModel):
    word: str
    count: int


class WordCountOut(BaseModel):
    words: int
    distinct: int
    commonest: list[WordCount]


@app.task("word_count", max_attempts=2, timeout_s=60)
async def word_count(ctx: taskbus.TaskContext, params: WordCountIn) -> WordCountOut:
    """Count the words of a text and list the commonest."""
    words = re.findall(r"[\w']+", params.text.lower())
    counts = Counter(words)
    await ctx.progress(100, f"{len(words)} words")
    return WordCountOut(
        words=len(words),
        distinct=len(counts),
        commonest=[WordCount(word=w, count=n) for w, n in counts.most_common(params.top)],
    )

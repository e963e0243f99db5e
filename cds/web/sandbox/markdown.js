/* A small, safe renderer for the GitHub-flavoured markdown of card details (no build step, no
 * dependency). Everything is HTML-escaped first, so raw HTML in a card is shown as text, never run.
 * Supported: paragraphs (soft line breaks), headings, bullet and numbered lists (one level, with
 * continuation lines), **bold**, *italic*, `code`, [links](https://...) (http, https, mailto and
 * relative only), <https://autolinks>, fenced code, block quotes, rules and simple tables. */
(function () {
  "use strict";

  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  }

  function safeUrl(escapedUrl) {
    const url = escapedUrl.replace(/&amp;/g, "&");
    return /^(https?:\/\/|mailto:|\/|#)/i.test(url) && !/[\u0000-\u001f]/.test(url);
  }

  function link(escapedUrl, label) {
    return (
      `<a href="${escapedUrl}" target="_blank" rel="noopener noreferrer">${label}</a>`
    );
  }

  /* Inline markup of one line (already a plain string; escaping happens here). */
  function inline(text) {
    const held = [];
    const hold = (html) => `\u0000${held.push(html) - 1}\u0000`;
    let out = escapeHtml(String(text).replace(/\u0000/g, ""));
    // backslash escapes (the service escapes EHR values this way): the character is plain text
    out = out.replace(/\\([!-\/:-@\[-`{-~])/g, (_, c) => hold(c));
    out = out.replace(/`([^`]+)`/g, (_, code) => hold(`<code>${code}</code>`));
    out = out.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, label, url) =>
      safeUrl(url) ? hold(link(url, label)) : label
    );
    out = out.replace(/&lt;((?:https?:\/\/|mailto:)(?:[^\s&]|&amp;)+)&gt;/g, (_, url) => hold(link(url, url)));
    out = out.replace(/\*\*(?=\S)(.+?)\*\*/g, "<strong>$1</strong>");
    out = out.replace(/(^|[^\w])__(?=\S)(.+?)__(?![\w])/g, "$1<strong>$2</strong>");
    out = out.replace(/\*(?=[^\s*])([^*]+?)\*/g, "<em>$1</em>");
    out = out.replace(/(^|[^\w])_(?=\S)([^_]+?)_(?![\w])/g, "$1<em>$2</em>");
    return out.replace(/\u0000(\d+)\u0000/g, (_, index) => held[Number(index)]);
  }

  /* A paragraph's or list item's lines: soft breaks become spaces, "two spaces" or "\" breaks. */
  function lines(parts) {
    return parts
      .map((line, index) => {
        const last = index === parts.length - 1;
        const hard = !last && (/ {2,}$/.test(line) || /\\$/.test(line));
        const body = inline(line.replace(/\\$/, "").trim());
        return body + (last ? "" : hard ? "<br>" : " ");
      })
      .join("");
  }

  const RULE = /^ {0,3}([-*_])( *\1){2,} *$/;
  const HEADING = /^ {0,3}(#{1,6}) +(.*?) *#* *$/;
  const BULLET = /^ {0,3}[-*+] +(.*)$/;
  const NUMBERED = /^ {0,3}(\d{1,9})[.)] +(.*)$/;
  const FENCE = /^ {0,3}(```|~~~)/;
  const QUOTE = /^ {0,3}> ?(.*)$/;
  const TABLE_RULE = /^ *\|? *:?-+:? *(\| *:?-+:? *)*\|? *$/;

  function cells(row) {
    return row
      .trim()
      .replace(/^\|/, "")
      .replace(/\|$/, "")
      .split("|")
      .map((cell) => cell.trim());
  }

  function render(markdown) {
    const source = String(markdown || "").replace(/\r\n?/g, "\n").split("\n");
    const html = [];
    let paragraph = [];
    let list = null; // {tag, items: [[line, ...], ...]}

    function flushParagraph() {
      if (paragraph.length) html.push(`<p>${lines(paragraph)}</p>`);
      paragraph = [];
    }
    function flushList() {
      if (list) {
        const items = list.items.map((item) => `<li>${lines(item)}</li>`).join("");
        html.push(`<${list.tag}${list.start > 1 ? ` start="${list.start}"` : ""}>${items}</${list.tag}>`);
      }
      list = null;
    }
    function flush() {
      flushParagraph();
      flushList();
    }

    for (let i = 0; i < source.length; i += 1) {
      const line = source[i];
      let match;
      if (!line.trim()) {
        flush();
      } else if (FENCE.test(line)) {
        flush();
        const fence = line.trim().slice(0, 3);
        const code = [];
        for (i += 1; i < source.length && !source[i].trim().startsWith(fence); i += 1) {
          code.push(source[i]);
        }
        html.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
      } else if (RULE.test(line)) {
        flush();
        html.push("<hr>");
      } else if ((match = HEADING.exec(line))) {
        flush();
        const level = match[1].length;
        html.push(`<h${level}>${inline(match[2])}</h${level}>`);
      } else if ((match = BULLET.exec(line)) || (match = NUMBERED.exec(line))) {
        flushParagraph();
        const numbered = match.length === 3;
        const tag = numbered ? "ol" : "ul";
        if (!list || list.tag !== tag) {
          flushList();
          list = { tag, start: numbered ? Number(match[1]) : 1, items: [] };
        }
        list.items.push([numbered ? match[2] : match[1]]);
      } else if (list && (/^\s/.test(line) || !paragraph.length)) {
        list.items[list.items.length - 1].push(line.trim()); // continuation of the item
      } else if ((match = QUOTE.exec(line))) {
        flush();
        const quoted = [match[1]];
        while (i + 1 < source.length && (match = QUOTE.exec(source[i + 1]))) {
          quoted.push(match[1]);
          i += 1;
        }
        html.push(`<blockquote>${render(quoted.join("\n"))}</blockquote>`);
      } else if (line.includes("|") && i + 1 < source.length && TABLE_RULE.test(source[i + 1]) && source[i + 1].includes("-")) {
        flush();
        const head = cells(line).map((c) => `<th>${inline(c)}</th>`).join("");
        const body = [];
        for (i += 2; i < source.length && source[i].includes("|") && source[i].trim(); i += 1) {
          body.push(`<tr>${cells(source[i]).map((c) => `<td>${inline(c)}</td>`).join("")}</tr>`);
        }
        i -= 1;
        html.push(`<table><thead><tr>${head}</tr></thead><tbody>${body.join("")}</tbody></table>`);
      } else {
        flushList();
        paragraph.push(line);
      }
    }
    flush();
    return html.join("\n");
  }

  window.SandboxMarkdown = { render, escapeHtml };
})();

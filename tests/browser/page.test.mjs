// The browse-and-search page in a real browser (headless Chromium, driven by playwright-core):
// every listed movie shows its poster (lazy, from a srcset over the sizes), a misspelled title
// finds the film, a genre narrows the list and changes the counts, a movie opens its details
// with its poster. Run by scripts/browser against the embedded binary with the sample
// catalogue; saves a screenshot to target/browser/.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";

// playwright-core lives in .tools/playwright (scripts/browser installs it there).
const require = createRequire(process.env.PLAYWRIGHT_DIR + "/node_modules/");
const { chromium } = require("playwright-core");

const base = process.env.BASE;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const shots = process.env.SHOTS || "target/browser";
mkdirSync(shots, { recursive: true });

function check(ok, what) {
  if (!ok) throw new Error("failed: " + what);
  console.log("ok: " + what);
}

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => errors.push("request failed: " + r.url()));
  await page.goto(base + "/");
  await page.waitForFunction(() => Number(document.getElementById("total").textContent) >= 80);
  const all = Number(await page.textContent("#total"));
  check(all >= 80, `the whole catalogue is listed (${all})`);

  // Posters: each listed movie shows its poster, lazy-loaded, from a srcset over the sizes the
  // configuration lists, and the images arrive.
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll("#results .movie img.poster")];
    return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  });
  const posters = await page.$$eval("#results .movie img.poster", (imgs) =>
    imgs.map((i) => ({ loading: i.loading, srcset: i.srcset, width: i.naturalWidth, src: i.currentSrc })));
  const listed = await page.$$eval("#results .movie", (items) => items.length);
  check(posters.length === listed, `every listed movie shows a poster (${posters.length} of ${listed})`);
  check(posters.every((p) => p.loading === "lazy"), "posters load lazily");
  check(
    posters.every((p) => ["w92", "w154", "w185"].every((s) => p.srcset.includes("/images/" + s + "/"))),
    "a list poster's srcset covers w92, w154 and w185",
  );
  // naturalWidth is corrected for the srcset's density, so it is the layout's width here.
  check(posters.every((p) => p.width > 0 && /\/images\/w(92|154|185)\//.test(p.src)),
    `the posters arrived, the browser's pick of the sizes (${posters[0].src})`);
  check((await page.getAttribute("header a", "href")) === "/docs", "the page links to /docs");

  // Search as you type, with a typo: the film is found, and suggestions follow the letters.
  await page.fill("#q", "vertgo");
  await page.waitForFunction(() => document.getElementById("results").textContent.includes("Vertigo"));
  check(true, "a misspelled title (vertgo) finds Vertigo");
  await page.fill("#q", "the go");
  await page.waitForSelector("#suggestions li");
  const suggested = await page.$$eval("#suggestions li", (items) => items.map((i) => i.textContent));
  check(suggested.some((s) => s.startsWith("The Godfather")), `suggestions as you type: ${suggested.join(" / ")}`);
  await page.fill("#q", "");
  await page.waitForFunction((n) => Number(document.getElementById("total").textContent) === n, all);

  // A genre narrows the list, and every count follows.
  const count = (genre) =>
    page.$eval(`#genres button[data-genre="${genre}"] .count`, (e) => Number(e.textContent));
  const crime = await count("crime");
  const dramaBefore = await count("drama");
  await page.click('#genres button[data-genre="crime"]');
  await page.waitForFunction((n) => Number(document.getElementById("total").textContent) === n, crime);
  const dramaAfter = await count("drama");
  check(crime < all, `crime narrows the list to ${crime} of ${all}`);
  check(dramaAfter < dramaBefore, `the drama count follows: ${dramaBefore} -> ${dramaAfter}`);
  check(
    (await page.getAttribute('#genres button[data-genre="crime"]', "class")).includes("on"),
    "the chosen genre shows as chosen",
  );

  // A score bucket filters too; a movie opens its details.
  await page.click("#histogram button");
  // The chosen bucket shows as chosen once the filtered answer is on the page.
  await page.waitForSelector("#histogram button.on");
  const scored = Number(await page.textContent("#total"));
  check(scored <= crime, `a score bucket narrows the list again: ${crime} -> ${scored}`);
  const first = await page.textContent("#results .movie .name");
  await page.click("#results .movie");
  await page.waitForFunction((name) => document.getElementById("detail").textContent.includes(name), first);
  check(true, `a click shows the details of ${first}`);
  await page.waitForFunction(() => {
    const img = document.querySelector("#detail img.poster");
    return img && img.complete && img.naturalWidth > 0;
  });
  const big = await page.$eval("#detail img.poster", (i) => ({ srcset: i.srcset, alt: i.alt }));
  check(big.srcset.includes("/images/w780/") && big.alt === "Poster of " + first,
    `the details show the poster, up to w780 (${big.alt})`);
  await page.screenshot({ path: `${shots}/page.png`, fullPage: true });
  check(errors.length === 0, "no script error or failed request: " + errors.join("; "));

  // The docs page renders offline: its scripts come from the binary.
  const docs = await browser.newPage();
  await docs.goto(base + "/docs");
  await docs.waitForSelector(".swagger-ui .info", { timeout: 15000 });
  const title = await docs.textContent(".swagger-ui .info .title");
  check(title.includes("moviedb"), `/docs renders the document: ${title.trim()}`);
  await docs.screenshot({ path: `${shots}/docs.png` });
} finally {
  await browser.close();
}

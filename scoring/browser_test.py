"""leaderboard.html in a real browser: the ranked rows read back from the page, the plots loaded."""
import html
import json
import re

import pytest

from scoring import chromium
from scoring import example_experiment as ex
from scoring import leaderboard

# Appended to a copy of the page: after load, write what the browser rendered into the DOM.
_PROBE = """<script>
window.addEventListener('load', function () {
  var rows = Array.from(document.querySelectorAll('#scores tbody tr')).map(function (tr) {
    return [tr.querySelector('.rank').innerText.trim(), tr.querySelector('.submission').innerText.trim(),
            tr.querySelector('.score').innerText.trim()];
  });
  var images = Array.from(document.images).map(function (img) {
    return {id: img.id, cls: img.className, complete: img.complete,
            width: img.naturalWidth, height: img.naturalHeight};
  });
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({rows: rows, images: images});
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope='module')
def rendered(tmp_path_factory):
  if chromium.find() is None:
    pytest.skip(f'chromium is not installed; install it with `{chromium.INSTALL_HINT}` '
                '(CI installs it from .ci/apt_packages.txt)')
  root = tmp_path_factory.mktemp('experiment')
  ex.write_example(root, workloads=ex.WORKLOADS[:2], num_trials=2)
  out = tmp_path_factory.mktemp('board')
  result = leaderboard.write_leaderboard(experiment_dir=root, output_dir=out, num_trials=2)
  probed = out / 'probed.html'
  probed.write_text(result.paths['html'].read_text().replace('</body>', _PROBE + '</body>'))
  dom = chromium.dump_dom(probed)
  match = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
  assert match, f'the probe did not run; DOM starts with {dom[:300]!r}'
  return result, json.loads(html.unescape(match.group(1)))


def test_ranked_rows_read_back_from_the_page(rendered):
  result, probe = rendered
  expected = [[str(rank), sub, f'{value:.4f}'] for rank, sub, value in result.ranking]
  assert probe['rows'] == expected
  assert len(expected) == len(ex.SUBMISSIONS)


def test_profile_plot_and_curves_loaded(rendered):
  _, probe = rendered
  images = probe['images']
  profile = [img for img in images if img['id'] == 'performance-profile']
  assert len(profile) == 1
  assert profile[0]['complete'] and profile[0]['width'] > 0 and profile[0]['height'] > 0
  curves = [img for img in images if img['cls'] == 'curve']
  assert len(curves) == 2 and all(img['width'] > 0 and img['height'] > 0 for img in curves)

"""The documentation that is generated stays true to the code."""
import os

from conftest import ROOT
from splitgan_keras import config
from splitgan_keras.cli import options_page


def test_the_options_page_is_the_one_the_config_table_writes():
    with open(os.path.join(ROOT, "docs", "options.md")) as f:
        written = f.read()
    assert written == options_page.render(), ("docs/options.md is stale: python -m splitgan_keras.cli.options_page > "
                                              "docs/options.md")


def test_the_options_page_names_every_setting():
    page = options_page.render()
    for section, section_type in config.sections():
        for field, _ in config.fields(section_type):
            assert "| `%s.%s` |" % (section, field.name) in page

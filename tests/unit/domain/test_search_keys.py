"""Search keys: the words a customer or premise is found by (name, given name, pinyin, initials; address)."""
from gridcounter.domain.search_keys import (
    customer_search_key,
    normalise_text,
    one_typo_words,
    premise_search_key,
)


def words(key: str) -> list[str]:
    return key.split()


def test_a_chinese_name_is_found_by_its_given_name_pinyin_and_initials():
    assert words(customer_search_key("李涵丽"))[:6] == ["李涵丽", "lihanli", "lhl", "涵丽", "hanli", "hl"]


def test_every_word_of_a_key_starts_with_a_space_so_a_word_start_can_be_matched():
    key = customer_search_key("王建国")
    assert key.startswith(" 王建国 ") and key.endswith(" ")
    assert " jianguo" in key and " jg" in key


def test_full_width_letters_and_spaces_are_normalised_as_a_clerk_might_type_them():
    assert normalise_text(" ＬＩ Ｈａｎｌｉ ") == "lihanli"
    assert words(customer_search_key("ＡＢＣ 公司")) == ["abc公司", "abcgongsi", "ags"]


def test_an_organisation_name_gets_no_given_name():
    assert "电力" not in words(customer_search_key("示范市第一电力设备有限公司"))[1:]


def test_a_premise_is_found_by_its_address_and_building():
    assert words(premise_search_key("示范市朝阳区阳光小区3栋2单元501", "3栋")) == ["示范市朝阳区阳光小区3栋2单元501", "3栋"]


def test_an_empty_name_has_no_key():
    assert customer_search_key("  ") == ""


def test_one_wrong_character_only_for_chinese_names_of_three_or_four():
    assert one_typo_words("李涵丽") == ["~0涵丽", "~1李丽", "~2李涵"]
    assert one_typo_words("涵丽") == []
    assert one_typo_words("lhl") == []
    assert one_typo_words("示范市第一电力设备有限公司") == []


def test_two_names_with_one_character_different_share_a_word_of_their_keys():
    for typed in ("李寒丽", "王涵丽", "李涵力"):
        assert set(one_typo_words(typed)) & set(words(customer_search_key("李涵丽"))), typed
    assert not set(one_typo_words("王寒丽")) & set(words(customer_search_key("李涵丽")))

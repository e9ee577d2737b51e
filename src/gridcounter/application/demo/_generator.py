"""Synthetic registry: realistic Chinese customers, buildings, accounts, meters and installations, streamed.

Deterministic for a given seed. Used by the demo city and by `gridcounter seed` for cities of any size.
"""
from __future__ import annotations

import bisect
import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from gridcounter.domain.registry import default_registers, resident_id_check_digit, uscc_check_char

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
) + ["欧阳", "司马", "诸葛", "上官"]
GIVEN_MALE = list("伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林峰建国志海晨博文瑞泽轩然")
GIVEN_FEMALE = list("芳娜敏静丽艳娟霞秀英玲桂燕琳雪婷慧莹颖倩洁琴云萍红梅兰月佳欣怡涵雨诗悦晴薇瑶萱")
COMMUNITIES = ["阳光小区", "幸福家园", "翠湖花园", "锦绣华庭", "金色家园", "丽景苑", "康乐小区", "和谐家园", "紫荆花园",
               "春晓苑", "枫林小区", "书香门第", "银杏苑", "桃源居", "明珠花园", "滨江新城", "御景湾", "水岸名居"]
STREETS = ["人民路", "解放路", "建设路", "中山路", "和平路", "新华路", "胜利路", "光明路", "文化路", "朝阳路", "长江路",
           "黄河路", "迎宾大道", "滨江路", "花园街", "青年路", "幸福路", "团结路", "育才路", "学府路"]
ROADS = ["创业大道", "科技路", "工业一路", "工业二路", "开发大道", "兴业路", "振兴路", "高新路"]
TOWNS = ["青石", "柳湾", "白塔", "双河", "石桥", "红岩", "清泉", "桃花"]
VILLAGES = ["前进", "东风", "新民", "永安", "太平", "长乐", "丰收", "梨园", "杨庄", "李家"]
SHOP_KINDS = ["便利店", "超市", "餐厅", "面馆", "药店", "理发店", "茶楼", "五金店", "服装店", "水果店", "火锅店", "书店"]
BRANDS = ["鑫源", "华联", "好又多", "福满", "惠民", "老街", "大众", "金龙", "聚贤", "同心", "万家", "佳和"]
INDUSTRIES = ["机械制造", "钢铁", "化工", "纺织", "水泥", "电子科技", "食品加工", "造纸", "新材料", "铝业", "冷链物流"]
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
                   "157", "158", "159", "166", "177", "180", "181", "182", "185", "186", "187", "188", "189", "199"]
LI_CAPACITIES = [315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500, 3150, 5000, 6300]
CT_RATIOS = [20, 30, 40, 60, 80]  # 100/5 … 400/5
BIRTH_SPAN_DAYS = 21900  # about 60 years of birth dates
BIRTH_START = date(1945, 1, 1)
_BIRTH_DATES = [(BIRTH_START + timedelta(days=n)).strftime("%Y%m%d") for n in range(BIRTH_SPAN_DAYS)]

# tariff id, usage category, site kind, share of accounts (residential majority)
TARIFF_MIX = [
    ("BJ-RES-LT1KV", "RESIDENTIAL", "FLATS", 0.38),
    ("BJ-RES-1KV", "RESIDENTIAL", "FLATS", 0.08),
    ("BJ-RES-SHARED", "SHARED_METER_RESIDENTIAL", "SHARED", 0.03),
    ("SH-RES-TOU", "RESIDENTIAL", "FLATS", 0.16),
    ("ZJ-RES-TOU", "RESIDENTIAL", "FLATS", 0.16),
    ("SC-GC-TOU", "GENERAL_COMMERCIAL", "SHOPS", 0.15),
    ("DEMO-LI-2P", "LARGE_INDUSTRY", "PLANT", 0.04),
]
SITE_SIZES = {"FLATS": (8, 24), "SHARED": (1, 2), "SHOPS": (2, 6), "PLANT": (1, 1)}
# time-of-use registers when the catalogue cannot be asked (its answer wins when it is given)
TOU_BY_TARIFF = {"SH-RES-TOU": ("PEAK", "VALLEY"), "ZJ-RES-TOU": ("PEAK", "VALLEY"),
                 "SC-GC-TOU": ("PEAK", "FLAT", "VALLEY"), "DEMO-LI-2P": ("PEAK", "FLAT", "VALLEY")}


@dataclass(frozen=True)
class RouteSlot:
    """A route to fill: its id, hall, the hall's kind (address style) and how many accounts it gets."""

    route_id: int
    hall_id: int
    hall_kind: str
    quota: int


@dataclass
class Generated:
    """One account with its customer, premise, meter(s) and installation(s): database-ready values, no ids yet."""

    customer: dict
    premise: dict
    account: dict
    meters: list[dict] = field(default_factory=list)
    installations: list[dict] = field(default_factory=list)  # installations[i] uses meters[i]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _base31(number: int, width: int) -> str:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    out = []
    for _ in range(width):
        number, digit = divmod(number, 31)
        out.append(chars[digit])
    return "".join(reversed(out))


def resident_id(key: int, *, province: str) -> tuple[str, bool]:
    """A valid-looking 18-digit resident ID, unique per `key` (< 1.4e10); returns (number, is_male).

    key -> (birth date, sequence, district) is one-to-one: the birth date gives key mod 21900, which with the
    sequence gives the rest mod 1000, and the district the rest of it.
    """
    low, rest = key % BIRTH_SPAN_DAYS, key // BIRTH_SPAN_DAYS
    sequence = (rest + low * 337) % 1000
    district = (rest // 1000) * 7 + low % 7
    first17 = f"{province}{101 + district:04d}{_BIRTH_DATES[(low * 7919) % BIRTH_SPAN_DAYS]}{sequence:03d}"
    return first17 + resident_id_check_digit(first17), sequence % 2 == 1


def uscc(key: int, *, province: str) -> str:
    """A valid-looking unified social credit code (企业, 91…), unique per `key`."""
    first17 = f"91{province}0100{_base31(key, 9)}"
    return first17 + uscc_check_char(first17)


class Generator:
    """Streams accounts for one city, route by route, building by building."""

    def __init__(self, *, seed: int, city_id: int, city_name: str, province_code: str, account_prefix: str,
                 first_serial: int, as_of: date, tou_registers: dict[str, tuple[str, ...]] | None = None):
        self.rng = random.Random(seed)
        self.city_id = city_id
        self.city_name = city_name
        self.province = province_code
        self.prefix = account_prefix
        self.serial = first_serial
        self.as_of = as_of
        self.site_no = first_serial  # each account uses at most one site number: later runs never reuse one
        self._json: dict[tuple, tuple[str, str]] = {}
        self.tou = {**TOU_BY_TARIFF, **(tou_registers or {})}
        # per-site probabilities so that per-account shares match TARIFF_MIX
        weights = [share / ((SITE_SIZES[kind][0] + SITE_SIZES[kind][1]) / 2) for _, _, kind, share in TARIFF_MIX]
        total = sum(weights)
        self.cumulative = list(itertools.accumulate(w / total for w in weights))

    # --- people and organisations -------------------------------------------------------------------------

    def _key(self) -> int:
        return int(self.prefix) * 10_000_000 + self.serial

    def _person(self) -> dict:
        number, male = resident_id(self._key(), province=self.province)
        rng = self.rng
        given = GIVEN_MALE if male else GIVEN_FEMALE
        name = rng.choice(SURNAMES) + "".join(rng.choice(given) for _ in range(rng.choice((1, 2, 2))))
        return {"kind": "PERSON", "name": name, "id_type": "RESIDENT_ID", "id_number": number,
                "phone": self._mobile(), "phone_alt": ""}

    def _organisation(self, name: str) -> dict:
        return {"kind": "ORGANISATION", "name": name, "id_type": "USCC",
                "id_number": uscc(self._key(), province=self.province), "phone": self._mobile(), "phone_alt": ""}

    def _mobile(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(100_000_000):08d}"

    # --- sites ------------------------------------------------------------------------------------------

    def _site_kind(self, hall_kind: str) -> int:
        index = bisect.bisect(self.cumulative, self.rng.random() * self.cumulative[-1])
        if hall_kind == "RURAL" and TARIFF_MIX[index][2] == "FLATS" and self.rng.random() < 0.5:
            index = 0  # villages: mostly the plain low-voltage residential tariff
        return index

    def _flats(self, hall_kind: str, count: int) -> list[tuple[str, str]]:
        """(address, building) for `count` flats or village houses of one building / village group."""
        site = self.site_no
        self.site_no += 1
        if hall_kind == "RURAL":
            town = TOWNS[site % len(TOWNS)]
            village = VILLAGES[(site // len(TOWNS)) % len(VILLAGES)]
            group = site // (len(TOWNS) * len(VILLAGES)) + 1
            building = f"{town}镇{village}村{group}组"
            return [(f"{building}{n + 1}号", building) for n in range(count)]
        area = "城区" if hall_kind == "CITY" else "示范县城关镇" if self.city_name == "示范市" else "县城关镇"
        community = COMMUNITIES[(site // 30) % len(COMMUNITIES)]
        phase = site // (30 * len(COMMUNITIES))
        if phase:
            community += f"{phase + 1}期"
        building = f"{area}{community}{site % 30 + 1}号楼"
        flats_per_floor = 2 if count <= 12 else 4
        return [(f"{building}{n // (flats_per_floor * 6) + 1}单元{(n // flats_per_floor) % 6 + 1}"
                 f"{n % flats_per_floor + 1:02d}室", building) for n in range(count)]

    def _shops(self, hall_kind: str, count: int) -> list[tuple[str, str]]:
        site = self.site_no
        self.site_no += 1
        street = STREETS[site % len(STREETS)]
        building = f"{'城区' if hall_kind == 'CITY' else '城关镇'}{street}{site // len(STREETS) + 1}号"
        return [(f"{building}{n + 1}号商铺", building) for n in range(count)]

    def _plant(self) -> tuple[str, str]:
        site = self.site_no
        self.site_no += 1
        address = f"经济开发区{ROADS[site % len(ROADS)]}{site // len(ROADS) + 1}号"
        return address, address

    # --- accounts ---------------------------------------------------------------------------------------

    def accounts(self, slots: list[RouteSlot], *, force_all_tariffs: bool = False) -> Iterator[Generated]:
        """Every account of every route slot, in walking order."""
        pending = list(range(len(TARIFF_MIX))) if force_all_tariffs else []
        for slot in slots:
            walk = 0
            while walk < slot.quota:
                index = pending.pop(0) if pending else self._site_kind(slot.hall_kind)
                tariff, category, kind, _share = TARIFF_MIX[index]
                low, high = SITE_SIZES[kind]
                size = min(self.rng.randint(low, high), slot.quota - walk)
                if kind == "FLATS":
                    places = self._flats(slot.hall_kind, size)
                elif kind == "SHOPS":
                    places = self._shops(slot.hall_kind, size)
                elif kind == "SHARED":  # one meter for a whole building (合表), sometimes two
                    places = [(f"{b}合表{n + 1}", b) for n, (_a, b) in enumerate(self._flats(slot.hall_kind, size))]
                else:
                    places = [self._plant()]
                for address, building in places:
                    walk += 1
                    yield self._account(slot, walk, tariff, category, address, building)

    def _account(self, slot: RouteSlot, walk: int, tariff: str, category: str, address: str,
                 building: str) -> Generated:
        rng = self.rng
        self.serial += 1
        number = f"{self.prefix}{self.serial:07d}"
        capacity = demand = household = None
        multiplier = Decimal(1)
        digits = 6
        if category == "RESIDENTIAL":
            voltage = "KV_1_10" if tariff == "BJ-RES-1KV" else "LV_220V"
            household = rng.choices((1, 2, 3, 4, 5, 6, 7), weights=(12, 28, 30, 18, 7, 4, 1))[0]
            customer = self._person()
        elif category == "SHARED_METER_RESIDENTIAL":
            voltage = "LV_380V"
            digits = 7
            customer = self._organisation(f"{building}业主委员会")
        elif category == "GENERAL_COMMERCIAL":
            capacity = Decimal(rng.choice((10, 16, 20, 30, 40, 50, 63, 80, 100, 125, 160, 200, 250)))
            voltage = "KV_1_10" if capacity >= 200 else "LV_380V"
            digits = 7
            if capacity >= 100:
                multiplier = Decimal(rng.choice(CT_RATIOS))
            name = f"{self.city_name}{rng.choice(BRANDS)}{rng.choice(SHOP_KINDS)}"
            customer = self._person() if rng.random() < 0.5 else self._organisation(f"{name}有限公司")
        else:  # LARGE_INDUSTRY
            capacity = Decimal(rng.choice(LI_CAPACITIES))
            voltage = "KV_35" if capacity >= 5000 else "KV_1_10"
            if rng.random() < 0.5:
                demand = (capacity * Decimal("0.8")).quantize(Decimal(1))
            digits = 8
            pt = 350 if voltage == "KV_35" else 100  # 35000/100 or 10000/100
            multiplier = Decimal(rng.choice(CT_RATIOS) * pt)
            customer = self._organisation(
                f"{self.city_name}{rng.choice(BRANDS)}{rng.choice(INDUSTRIES)}有限公司")
        registers = default_registers(tou_registers=self.tou.get(tariff, ()),
                                      large_industry=category == "LARGE_INDUSTRY")
        opened = self.as_of - timedelta(days=rng.randint(1100, 5000))
        bank = rng.random() < 0.3
        generated = Generated(
            customer=customer,
            premise={"city_id": self.city_id, "address": address, "building": building},
            account={"number": number, "city_id": self.city_id, "home_hall_id": slot.hall_id,
                     "route_id": slot.route_id, "walk_order": walk, "usage_category": category,
                     "tariff_id": tariff, "voltage": voltage, "capacity_kva": _text(capacity),
                     "contract_demand_kw": _text(demand), "household_size": household, "status": "ACTIVE",
                     "bank_withholding": bank, "bank_account_ref": f"6222****{rng.randrange(10000):04d}" if bank else "",
                     "opened_date": opened.isoformat()},
        )
        key = tuple(registers)
        if key not in self._json:
            self._json[key] = (json.dumps(registers), json.dumps({r: "0" for r in registers}))
        registers_json, zero = self._json[key]
        meter = {"digits": digits, "multiplier": str(multiplier), "registers": registers_json}
        latest_exchange = self.as_of - timedelta(days=800)  # before the reading history the demo keeps
        if rng.random() < 0.02 and (latest_exchange - opened).days > 60:
            exchanged = opened + timedelta(days=rng.randint(30, (latest_exchange - opened).days))
            final = json.dumps({r: str(rng.randint(500, 9000)) for r in registers})
            generated.meters.append({**meter, "asset_number": f"DB{number}-0"})
            generated.installations.append({"installed_date": opened.isoformat(), "removed_date": exchanged.isoformat(),
                                            "initial_readings": zero, "final_readings": final})
            opened = exchanged
        generated.meters.append({**meter, "asset_number": f"DB{number}"})
        generated.installations.append({"installed_date": opened.isoformat(), "removed_date": None,
                                        "initial_readings": zero, "final_readings": "{}"})
        return generated

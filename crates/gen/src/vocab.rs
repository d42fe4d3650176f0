//! The words the generated history is written in: Chinese personal names and the titles,
//! places, notes and reasons of the activities, in the register the subdistrict's ledgers use.

use partyedu_domain::kinds::WishCategory;
use rand::Rng;
use rand::seq::IndexedRandom;

/// Common surnames, with a few frequent in Qingdao (于, 隋, 矫, 逄, 宫, 刁) among them.
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "程", "曹", "袁",
    "邓", "许", "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾", "丁", "魏", "薛", "叶", "潘",
    "杜", "姜", "范", "方", "石", "姚", "谭", "邹", "崔", "隋", "矫", "逄", "宫", "刁", "毕", "臧",
];

const GIVEN: &[&str] = &[
    "建", "国", "华", "明", "强", "伟", "芳", "敏", "静", "丽", "军", "平", "红", "霞", "玉", "兰",
    "英", "秀", "志", "海", "涛", "斌", "磊", "鹏", "杰", "超", "勇", "刚", "东", "亮", "新", "春",
    "梅", "燕", "萍", "桂", "凤", "琴", "云", "林", "峰", "波", "辉", "宁", "娟", "婷", "雪", "晨",
    "洁", "浩", "宇", "欣", "怡", "佳", "文", "德", "胜", "利", "庆", "福", "振", "永", "成", "学",
];

/// A personal name of two or three characters.
pub(crate) fn person_name(rng: &mut impl Rng) -> String {
    let mut name = String::with_capacity(9);
    name.push_str(pick(rng, SURNAMES));
    for _ in 0..rng.random_range(1..=2) {
        name.push_str(pick(rng, GIVEN));
    }
    name
}

/// The same name with its last character replaced by another: a clerical slip corrected.
pub(crate) fn corrected_name(rng: &mut impl Rng, name: &str) -> String {
    let last = name.chars().last().map(char::len_utf8).unwrap_or(0);
    let stem = &name[..name.len() - last];
    loop {
        let fixed = format!("{stem}{}", pick(rng, GIVEN));
        if fixed != name {
            return fixed;
        }
    }
}

pub(crate) fn pick<'a>(rng: &mut impl Rng, words: &[&'a str]) -> &'a str {
    words.choose(rng).copied().unwrap_or_default()
}

pub(crate) const SUBDISTRICT: &str = "浮山新区街道";
pub(crate) const ORGAN_BRANCH: &str = "浮山新区街道机关党支部";

/// Community names; a history with more communities numbers the rest.
pub(crate) const COMMUNITIES: &[&str] = &[
    "浮山后一社区",
    "浮山后二社区",
    "浮山后三社区",
    "浮山后四社区",
    "福林社区",
    "金湖社区",
    "浮山苑社区",
];

pub(crate) const SCHOOL: &str = "浮山新区街道党校（党员教育中心）";
pub(crate) const ONSITE_POINTS: &[&str] = &[
    "浮山后四小区老旧小区改造项目现场教学点",
    "“印记浮山”展馆现场教学点",
];
pub(crate) const EXTERNAL_BASES: &[&str] =
    &["青岛党史纪念馆", "青岛市廉政教育馆", "中国海军博物馆"];

pub(crate) const CONCENTRATED_TITLES: &[&str] = &[
    "学习贯彻习近平新时代中国特色社会主义思想集中培训",
    "党的二十大精神专题培训班",
    "习近平总书记最新重要讲话精神学习班",
    "党纪学习教育集中培训",
    "基层党员冬训集中学习",
];
pub(crate) const SEMINAR_TITLES: &[&str] = &[
    "社区“两委”成员轮训专题研讨",
    "网格党支部书记履职能力研讨班",
    "“头雁”领航专题研讨",
    "基层治理创新专题研讨",
];
pub(crate) const ONLINE_TITLES: &[&str] = &[
    "“灯塔大课堂”线上专题课",
    "“灯塔大课堂”党史学习线上课",
    "线上政策解读课",
];
pub(crate) const FIELD_TRIP_TITLES: &[&str] = &[
    "走进青岛党史纪念馆现场教学",
    "廉政教育馆警示教育现场教学",
    "海军博物馆国防教育现场教学",
    "老旧小区改造项目现场教学",
    "“印记浮山”展馆现场教学",
];
pub(crate) const FORUM_TITLES: &[&str] =
    &["社区书记论坛", "网格书记经验交流论坛", "“书记讲堂”交流会"];
pub(crate) const COMPETITION_TITLES: &[&str] = &[
    "社区书记“擂台比武”",
    "网格党支部书记述职比武",
    "党务知识竞赛",
];
pub(crate) const NIGHT_SCHOOL_TITLES: &[&str] = &["老党员夜校", "“银发”党员夜校学习会"];
pub(crate) const CAMPAIGNS: &[&str] = &["今冬明春党员集中轮训", "党纪学习教育", "主题教育"];

pub(crate) const LECTURE_TITLES: &[&str] = &[
    "学习贯彻党的二十大精神专题党课",
    "以高质量党建引领基层治理",
    "传承红色基因，争做合格党员",
    "全面从严治党永远在路上",
    "践行初心使命，服务群众“最后一公里”",
    "学习习近平总书记最新重要讲话精神",
];

pub(crate) const STUDY_ITEMS: &[(&str, &str)] = &[
    ("习近平总书记最新重要讲话", "speech"),
    ("习近平总书记在中央政治局集体学习时的讲话", "speech"),
    ("《中国共产党纪律处分条例》", "document"),
    ("《中国共产党党员教育管理工作条例》", "document"),
    ("《习近平谈治国理政》第四卷", "book"),
    ("《中国共产党简史》", "book"),
    ("市委全会精神", "document"),
];

pub(crate) const WISH_TITLES: &[(&str, WishCategory)] = &[
    ("夜间网格巡逻", WishCategory::GridPatrol),
    ("沿街商户安全走访", WishCategory::MerchantVisit),
    ("邻里停车纠纷调解", WishCategory::DisputeMediation),
    ("独居老人代购生活用品", WishCategory::VolunteerService),
    ("楼道杂物清理", WishCategory::VolunteerService),
    ("为困难家庭儿童辅导功课", WishCategory::VolunteerService),
    ("更换楼道照明灯", WishCategory::Other),
];

pub(crate) const VISIT_NOTES: &[&str] = &[
    "送去最新学习资料并讲解",
    "送书到家：《中国共产党简史》",
    "为老党员过“政治生日”",
    "了解身体状况，宣讲惠民政策",
];

pub(crate) const GRID_BRANDS: &[&str] = &["红帆", "先锋", "暖心", "海韵", "邻里", "和美"];

pub(crate) const DESTINATIONS: &[&str] = &[
    "上海",
    "深圳",
    "北京",
    "苏州",
    "杭州",
    "济南",
    "烟台",
    "青岛西海岸新区",
    "广州",
];

pub(crate) const CONTACT_NOTES: &[&str] = &[
    "通报支部近期学习安排",
    "提醒参加线上学习",
    "了解工作生活情况",
    "转达组织关怀",
];

pub(crate) const VOID_REASONS: &[&str] =
    &["重复录入", "活动日期录错，重新录入", "误录，活动未举行"];
pub(crate) const AMEND_ADD_REASONS: &[&str] = &["补录签到漏记人员", "补录现场参学人员"];
pub(crate) const AMEND_REMOVE_REASONS: &[&str] = &["删除签到表误录人员", "误录未参加人员"];
pub(crate) const AMEND_BOTH_REASONS: &[&str] = &["核对签到表，更正参学人员"];
pub(crate) const AMEND_VOID_REASONS: &[&str] = &["更正有误，撤销本次更正"];
pub(crate) const RELEASE_REASONS: &[&str] = &["临时出差，无法完成", "时间冲突，交由他人认领"];
pub(crate) const WITHDRAW_REASONS: &[&str] = &["需求已由社区解决", "群众撤回需求"];
pub(crate) const NAME_REASONS: &[&str] = &["姓名录入错误"];
pub(crate) const YEAR_REASONS: &[&str] = &["出生年份录入错误"];
pub(crate) const FULFIL_NOTES: &[&str] = &["群众满意", "已完成并回访"];

"""The simulated market's car models: Indonesia, new-car prices in IDR (2024 on-the-road, approx.).

Columns: brand, model, body type, new price (million Rp), first model year, fuels on offer,
share sold with an automatic gearbox, popularity weight.
"""

from __future__ import annotations

import pandas as pd

_ROWS = [
    # brand, model, body, new_price_m, since, fuels, automatic_share, popularity
    ("Toyota", "Avanza", "mpv", 265, 2004, "petrol", 0.45, 10),
    ("Toyota", "Veloz", "mpv", 310, 2012, "petrol", 0.7, 4),
    ("Toyota", "Kijang Innova", "mpv", 430, 2004, "petrol|diesel|hybrid", 0.55, 8),
    ("Toyota", "Fortuner", "suv", 580, 2005, "diesel|petrol", 0.8, 5),
    ("Toyota", "Rush", "suv", 290, 2007, "petrol", 0.5, 5),
    ("Toyota", "Raize", "suv", 245, 2021, "petrol", 0.75, 3),
    ("Toyota", "Agya", "hatchback", 185, 2013, "petrol", 0.4, 7),
    ("Toyota", "Calya", "mpv", 175, 2016, "petrol", 0.35, 6),
    ("Toyota", "Yaris", "hatchback", 295, 2006, "petrol", 0.7, 4),
    ("Toyota", "Corolla Cross", "suv", 540, 2020, "petrol|hybrid", 1.0, 2),
    ("Toyota", "Camry", "sedan", 690, 2002, "petrol|hybrid", 1.0, 2),
    ("Toyota", "Hilux", "pickup", 420, 2005, "diesel", 0.2, 3),
    ("Daihatsu", "Xenia", "mpv", 245, 2004, "petrol", 0.35, 8),
    ("Daihatsu", "Terios", "suv", 275, 2007, "petrol", 0.45, 4),
    ("Daihatsu", "Ayla", "hatchback", 160, 2013, "petrol", 0.35, 7),
    ("Daihatsu", "Sigra", "mpv", 155, 2016, "petrol", 0.3, 7),
    ("Daihatsu", "Rocky", "suv", 235, 2021, "petrol", 0.7, 3),
    ("Daihatsu", "Gran Max", "van", 205, 2008, "petrol", 0.0, 4),
    ("Honda", "Brio", "hatchback", 195, 2012, "petrol", 0.6, 9),
    ("Honda", "HR-V", "suv", 400, 2014, "petrol", 0.95, 5),
    ("Honda", "BR-V", "suv", 320, 2016, "petrol", 0.75, 4),
    ("Honda", "CR-V", "suv", 610, 2002, "petrol|hybrid", 1.0, 3),
    ("Honda", "City Hatchback", "hatchback", 360, 2008, "petrol", 0.85, 3),
    ("Honda", "Civic", "sedan", 600, 2006, "petrol", 0.95, 2),
    ("Honda", "Mobilio", "mpv", 260, 2014, "petrol", 0.5, 4),
    ("Honda", "WR-V", "suv", 300, 2022, "petrol", 0.8, 2),
    ("Mitsubishi", "Xpander", "mpv", 300, 2017, "petrol", 0.65, 8),
    ("Mitsubishi", "Xpander Cross", "suv", 355, 2019, "petrol", 0.8, 4),
    ("Mitsubishi", "Pajero Sport", "suv", 610, 2009, "diesel", 0.85, 4),
    ("Mitsubishi", "L300", "pickup", 235, 2000, "diesel", 0.0, 4),
    ("Mitsubishi", "Triton", "pickup", 460, 2006, "diesel", 0.3, 2),
    ("Suzuki", "Ertiga", "mpv", 275, 2012, "petrol|hybrid", 0.5, 6),
    ("Suzuki", "XL7", "suv", 295, 2020, "petrol|hybrid", 0.6, 3),
    ("Suzuki", "Carry Pick Up", "pickup", 165, 2005, "petrol", 0.0, 5),
    ("Suzuki", "Baleno", "hatchback", 270, 2017, "petrol", 0.7, 2),
    ("Suzuki", "Ignis", "hatchback", 200, 2017, "petrol", 0.6, 2),
    ("Nissan", "Livina", "mpv", 280, 2019, "petrol", 0.6, 3),
    ("Nissan", "Magnite", "suv", 260, 2021, "petrol", 0.6, 2),
    ("Nissan", "Kicks e-Power", "suv", 475, 2020, "hybrid", 1.0, 1),
    ("Nissan", "X-Trail", "suv", 560, 2005, "petrol", 0.9, 2),
    ("Nissan", "Serena", "mpv", 520, 2008, "petrol|hybrid", 1.0, 2),
    ("Hyundai", "Creta", "suv", 385, 2022, "petrol", 0.8, 3),
    ("Hyundai", "Stargazer", "mpv", 305, 2022, "petrol", 0.7, 3),
    ("Hyundai", "Ioniq 5", "suv", 800, 2022, "electric", 1.0, 1),
    ("Hyundai", "Santa Fe", "suv", 700, 2012, "petrol|diesel", 1.0, 1),
    ("Wuling", "Confero", "mpv", 200, 2017, "petrol", 0.3, 3),
    ("Wuling", "Almaz", "suv", 385, 2019, "petrol|hybrid", 1.0, 2),
    ("Wuling", "Air ev", "hatchback", 250, 2022, "electric", 1.0, 2),
    ("Wuling", "Cortez", "mpv", 300, 2018, "petrol", 0.6, 1),
    ("Kia", "Sonet", "suv", 320, 2021, "petrol", 0.7, 2),
    ("Mazda", "CX-5", "suv", 610, 2012, "petrol", 1.0, 2),
    ("Mazda", "Mazda2", "hatchback", 335, 2010, "petrol", 0.9, 1),
    ("BMW", "320i", "sedan", 950, 2006, "petrol", 1.0, 1),
    ("Mercedes-Benz", "C 200", "sedan", 1100, 2008, "petrol", 1.0, 1),
]

# Yearly value loss by brand: resale strength differs a lot in Indonesia (Toyota holds, Wuling drops).
BRAND_DEPRECIATION = {
    "Toyota": 0.075, "Daihatsu": 0.085, "Honda": 0.085, "Mitsubishi": 0.09, "Suzuki": 0.10,
    "Nissan": 0.12, "Hyundai": 0.11, "Wuling": 0.14, "Kia": 0.11, "Mazda": 0.11,
    "BMW": 0.14, "Mercedes-Benz": 0.13,
}

# Region multipliers on value and their share of listings.
REGIONS = {
    "DKI Jakarta": (1.03, 0.22), "Jawa Barat": (1.00, 0.18), "Jawa Timur": (0.99, 0.15),
    "Jawa Tengah": (0.97, 0.10), "Banten": (1.01, 0.08), "Bali": (1.02, 0.05),
    "Sumatera Utara": (0.98, 0.07), "Sulawesi Selatan": (0.99, 0.05),
    "Kalimantan Timur": (1.04, 0.05), "DI Yogyakarta": (0.97, 0.05),
}

FUEL_PREMIUM = {"petrol": 1.0, "diesel": 1.06, "hybrid": 1.10, "electric": 1.0}
AUTOMATIC_PREMIUM = 1.06
DEALER_PREMIUM = 1.04


def catalog() -> pd.DataFrame:
    frame = pd.DataFrame(
        _ROWS,
        columns=["brand", "model", "body_type", "new_price_m", "since", "fuels",
                 "automatic_share", "popularity"],
    )
    frame["depreciation"] = frame["brand"].map(BRAND_DEPRECIATION)
    return frame
